using System.Text.Json.Serialization;

namespace Immutable.Build.Releases;

/// <summary>
/// release.json: what a publish released. Schema documented in docs/release-manifest.md; readers check
/// <see cref="SchemaVersion"/>. It holds no secrets and no absolute paths of the build machine.
/// </summary>
public sealed record ReleaseManifest
{
    /// <summary>The schema version this code writes.</summary>
    public const int CurrentSchemaVersion = 1;

    /// <summary>Schema version of this document.</summary>
    [JsonPropertyName("schemaVersion")]
    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    /// <summary>The application (the image repository's last segment unless ImmutableAppName is set).</summary>
    [JsonPropertyName("app")]
    public required string App { get; init; }

    /// <summary>The release id: the release tag.</summary>
    [JsonPropertyName("releaseId")]
    public required string ReleaseId { get; init; }

    /// <summary>The commit the release was built from.</summary>
    [JsonPropertyName("source")]
    public required ReleaseSource Source { get; init; }

    /// <summary>The image.</summary>
    [JsonPropertyName("image")]
    public required ReleaseImage Image { get; init; }

    /// <summary>AMI ids by region, when AMIs were baked.</summary>
    [JsonPropertyName("amis")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string>? Amis { get; init; }

    /// <summary>How it was built.</summary>
    [JsonPropertyName("build")]
    public required ReleaseBuildInfo Build { get; init; }

    /// <summary>An in-toto statement with a SLSA provenance predicate naming the image as subject.</summary>
    [JsonPropertyName("provenance")]
    public required ProvenanceStatement Provenance { get; init; }
}

/// <summary>The source revision of a release.</summary>
public sealed record ReleaseSource(
    [property: JsonPropertyName("commit")] string Commit,
    [property: JsonPropertyName("shortCommit")] string ShortCommit,
    [property: JsonPropertyName("dirty")] bool Dirty,
    [property: JsonPropertyName("commitTime")] DateTimeOffset CommitTime,
    [property: JsonPropertyName("repositoryUrl")] string? RepositoryUrl,
    [property: JsonPropertyName("origin")] string Origin);

/// <summary>The image of a release.</summary>
public sealed record ReleaseImage
{
    /// <summary>Registry host[:port], or null when the image was only written to disk.</summary>
    [JsonPropertyName("registry")]
    public string? Registry { get; init; }

    /// <summary>The repository, e.g. hello-immutable.</summary>
    [JsonPropertyName("repository")]
    public required string Repository { get; init; }

    /// <summary>The manifest digest.</summary>
    [JsonPropertyName("digest")]
    public required string Digest { get; init; }

    /// <summary>registry/repository@digest: what deployments use.</summary>
    [JsonPropertyName("reference")]
    public required string Reference { get; init; }

    /// <summary>The manifest media type.</summary>
    [JsonPropertyName("mediaType")]
    public required string MediaType { get; init; }

    /// <summary>Immutable tags pointing at the digest.</summary>
    [JsonPropertyName("tags")]
    public required IReadOnlyList<string> Tags { get; init; }

    /// <summary>Moving tags (pointers such as staging, latest); never used to deploy.</summary>
    [JsonPropertyName("movingTags")]
    public IReadOnlyList<string> MovingTags { get; init; } = [];

    /// <summary>True when the digest is a function of the commit (the Immutable.Build engine); false for the SDK's engine.</summary>
    [JsonPropertyName("reproducible")]
    public bool Reproducible { get; init; }

    /// <summary>Which engine built the image: immutable or sdk.</summary>
    [JsonPropertyName("engine")]
    public required string Engine { get; init; }

    /// <summary>The config blob's digest, when known.</summary>
    [JsonPropertyName("configDigest")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ConfigDigest { get; init; }

    /// <summary>The layers, base first.</summary>
    [JsonPropertyName("layers")]
    public IReadOnlyList<ReleaseLayer> Layers { get; init; } = [];

    /// <summary>The base image.</summary>
    [JsonPropertyName("base")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ReleaseBaseImage? Base { get; init; }

    /// <summary>Files written, relative to release.json's folder.</summary>
    [JsonPropertyName("outputs")]
    public IReadOnlyDictionary<string, string> Outputs { get; init; } = new Dictionary<string, string>();
}

/// <summary>One layer.</summary>
public sealed record ReleaseLayer(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("digest")] string Digest,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("mediaType")] string MediaType);

/// <summary>The base image a release was built on.</summary>
public sealed record ReleaseBaseImage(
    [property: JsonPropertyName("reference")] string Reference,
    [property: JsonPropertyName("digest")] string? Digest);

/// <summary>The build that made the release.</summary>
public sealed record ReleaseBuildInfo(
    [property: JsonPropertyName("sdkVersion")] string? SdkVersion,
    [property: JsonPropertyName("configuration")] string? Configuration,
    [property: JsonPropertyName("targetFramework")] string? TargetFramework,
    [property: JsonPropertyName("runtimeIdentifier")] string? RuntimeIdentifier,
    [property: JsonPropertyName("toolVersion")] string ToolVersion);

/// <summary>An in-toto v1 statement.</summary>
public sealed record ProvenanceStatement(
    [property: JsonPropertyName("_type")] string Type,
    [property: JsonPropertyName("subject")] IReadOnlyList<ProvenanceSubject> Subject,
    [property: JsonPropertyName("predicateType")] string PredicateType,
    [property: JsonPropertyName("predicate")] SlsaProvenance Predicate);

/// <summary>A subject: a name and its digests.</summary>
public sealed record ProvenanceSubject(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("digest")] IReadOnlyDictionary<string, string> Digest);

/// <summary>A SLSA v1 provenance predicate, trimmed to what a publish knows.</summary>
public sealed record SlsaProvenance(
    [property: JsonPropertyName("buildDefinition")] SlsaBuildDefinition BuildDefinition,
    [property: JsonPropertyName("runDetails")] SlsaRunDetails RunDetails);

/// <summary>What was built, from what.</summary>
public sealed record SlsaBuildDefinition(
    [property: JsonPropertyName("buildType")] string BuildType,
    [property: JsonPropertyName("externalParameters")] IReadOnlyDictionary<string, string> ExternalParameters,
    [property: JsonPropertyName("resolvedDependencies")] IReadOnlyList<SlsaResourceDescriptor> ResolvedDependencies);

/// <summary>A dependency (the source commit, the base image).</summary>
public sealed record SlsaResourceDescriptor(
    [property: JsonPropertyName("uri")] string Uri,
    [property: JsonPropertyName("digest")] IReadOnlyDictionary<string, string> Digest);

/// <summary>Who built it.</summary>
public sealed record SlsaRunDetails([property: JsonPropertyName("builder")] SlsaBuilder Builder);

/// <summary>The builder identity.</summary>
public sealed record SlsaBuilder([property: JsonPropertyName("id")] string Id);

/// <summary>Source-generated JSON for release manifests (indented: people read them).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(ReleaseManifest))]
public sealed partial class ReleaseJsonContext : JsonSerializerContext;
