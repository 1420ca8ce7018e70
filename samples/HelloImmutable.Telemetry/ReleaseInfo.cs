using System.Reflection;
using System.Text.Json.Serialization;

namespace HelloImmutable.Telemetry;

/// <summary>
/// Which release this process is. Deploy targets set the IMMUTABLE_* variables; the commit also
/// comes from assembly metadata, so a plain `dotnet run` still knows what it was built from.
/// </summary>
public sealed record ReleaseInfo(
    [property: JsonPropertyName("releaseId")] string ReleaseId,
    [property: JsonPropertyName("commit")] string? Commit,
    [property: JsonPropertyName("imageDigest")] string? ImageDigest,
    [property: JsonPropertyName("version")] string Version)
{
    public static ReleaseInfo FromEnvironment()
    {
        var assembly = Assembly.GetEntryAssembly() ?? typeof(ReleaseInfo).Assembly;
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var metadata = assembly.GetCustomAttributes<AssemblyMetadataAttribute>().ToDictionary(a => a.Key, a => a.Value);
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        var commit = Env("IMMUTABLE_COMMIT")
            ?? metadata.GetValueOrDefault("ImmutableSourceRevision")
            ?? (plus >= 0 ? informational[(plus + 1)..] : null);
        var version = plus >= 0 ? informational[..plus] : informational;
        return new ReleaseInfo(Env("IMMUTABLE_RELEASE_ID") ?? "unreleased", commit, Env("IMMUTABLE_IMAGE_DIGEST"), version);
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
}

[JsonSerializable(typeof(ReleaseInfo))]
public sealed partial class SampleJsonContext : JsonSerializerContext;
