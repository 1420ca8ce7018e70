using System.Text.Json.Serialization;

namespace Immutable.Build.Registry;

/// <summary>Source-generated JSON for the registry's wire formats and Docker's config; no reflection inside MSBuild.</summary>
[JsonSourceGenerationOptions(
    PropertyNameCaseInsensitive = true,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(RegistryErrorResponse))]
[JsonSerializable(typeof(TagListResponse))]
[JsonSerializable(typeof(DockerConfigFile))]
[JsonSerializable(typeof(CredentialHelperResponse))]
[JsonSerializable(typeof(ManifestMediaTypeProbe))]
internal sealed partial class RegistryJsonContext : JsonSerializerContext;

/// <summary>The token service's answer; <c>token</c> and <c>access_token</c> are synonyms.</summary>
internal sealed class TokenResponse
{
    [JsonPropertyName("token")]
    public string? Token { get; set; }

    [JsonPropertyName("access_token")]
    public string? AccessToken { get; set; }

    [JsonPropertyName("expires_in")]
    public long? ExpiresIn { get; set; }
}

/// <summary>The error body of the distribution API.</summary>
internal sealed class RegistryErrorResponse
{
    [JsonPropertyName("errors")]
    public List<RegistryErrorEntry>? Errors { get; set; }
}

internal sealed class RegistryErrorEntry
{
    [JsonPropertyName("code")]
    public string? Code { get; set; }

    [JsonPropertyName("message")]
    public string? Message { get; set; }
}

internal sealed class TagListResponse
{
    [JsonPropertyName("name")]
    public string? Name { get; set; }

    [JsonPropertyName("tags")]
    public List<string>? Tags { get; set; }
}

/// <summary>The parts of Docker's config.json that hold credentials.</summary>
internal sealed class DockerConfigFile
{
    [JsonPropertyName("auths")]
    public Dictionary<string, DockerAuthEntry?>? Auths { get; set; }

    [JsonPropertyName("credHelpers")]
    public Dictionary<string, string?>? CredHelpers { get; set; }

    [JsonPropertyName("credsStore")]
    public string? CredsStore { get; set; }
}

internal sealed class DockerAuthEntry
{
    [JsonPropertyName("auth")]
    public string? Auth { get; set; }

    [JsonPropertyName("username")]
    public string? Username { get; set; }

    [JsonPropertyName("password")]
    public string? Password { get; set; }

    [JsonPropertyName("identitytoken")]
    public string? IdentityToken { get; set; }
}

/// <summary>What <c>docker-credential-&lt;name&gt; get</c> prints.</summary>
internal sealed class CredentialHelperResponse
{
    [JsonPropertyName("Username")]
    public string? Username { get; set; }

    [JsonPropertyName("Secret")]
    public string? Secret { get; set; }
}

/// <summary>Only the mediaType field of a manifest, for registries that answer with a generic Content-Type.</summary>
internal sealed class ManifestMediaTypeProbe
{
    [JsonPropertyName("mediaType")]
    public string? MediaType { get; set; }

    [JsonPropertyName("schemaVersion")]
    public int? SchemaVersion { get; set; }
}
