namespace Immutable.Build.Releases;

/// <summary>What a release produced.</summary>
public sealed record ReleaseResult(
    string ReleaseId,
    string Digest,
    string Reference,
    string ManifestPath,
    IReadOnlyList<string> Tags,
    ReleaseManifest Manifest);
