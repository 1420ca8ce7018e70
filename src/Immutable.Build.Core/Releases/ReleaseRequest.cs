namespace Immutable.Build.Releases;

/// <summary>How a publish output file is classified into a layer.</summary>
public enum LayerKind
{
    /// <summary>NuGet package assets and, when self-contained, the runtime: change least often.</summary>
    Packages,

    /// <summary>Assemblies of referenced projects.</summary>
    ProjectReferences,

    /// <summary>The app itself: changes with every commit.</summary>
    App,
}

/// <summary>One file of the publish output and the layer it belongs to.</summary>
public sealed record PublishFile(string RelativePath, LayerKind Kind);

/// <summary>Everything a release needs; the adapters (MSBuild, Cake, CLI) fill it and call ReleasePipeline.</summary>
public sealed record ReleaseRequest
{
    /// <summary>The project folder; the git repository is found from here.</summary>
    public required string ProjectDirectory { get; init; }

    /// <summary>The publish output folder.</summary>
    public required string PublishDirectory { get; init; }

    /// <summary>Classified publish files; files in the publish folder not listed here go to the app layer.</summary>
    public IReadOnlyList<PublishFile> PublishFiles { get; init; } = [];

    /// <summary>Where release.json, the OCI layout and the layer cache go.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>Where built layers are cached between publishes.</summary>
    public required string LayerCacheDirectory { get; init; }

    /// <summary>The app name recorded in the release.</summary>
    public required string AppName { get; init; }

    /// <summary>The target repository, e.g. hello-immutable.</summary>
    public required string Repository { get; init; }

    /// <summary>The target registry host[:port]; null writes the image to disk only.</summary>
    public string? Registry { get; init; }

    /// <summary>The base image: a reference, or scratch.</summary>
    public required string BaseImage { get; init; }

    /// <summary>An OCI image layout folder to take the base image from instead of a registry.</summary>
    public string? BaseImageLayout { get; init; }

    /// <summary>The container runtime identifier, e.g. linux-x64.</summary>
    public required string RuntimeIdentifier { get; init; }

    /// <summary>The app folder inside the image, e.g. /app/.</summary>
    public string WorkingDirectory { get; init; } = "/app/";

    /// <summary>The user to run as; empty = the base image's APP_UID, else its user.</summary>
    public string? User { get; init; }

    /// <summary>The entrypoint.</summary>
    public IReadOnlyList<string> Entrypoint { get; init; } = [];

    /// <summary>The default arguments (Cmd).</summary>
    public IReadOnlyList<string> Cmd { get; init; } = [];

    /// <summary>Environment variables added to the base image's.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; } = [];

    /// <summary>Labels.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Labels { get; init; } = [];

    /// <summary>Exposed ports, e.g. 8080/tcp.</summary>
    public IReadOnlyList<string> Ports { get; init; } = [];

    /// <summary>Tags the user asked for (ContainerImageTags); empty = the tag policy's.</summary>
    public IReadOnlyList<string> UserTags { get; init; } = [];

    /// <summary>Moving tags (pointers); written with overwrite, never used to deploy.</summary>
    public IReadOnlyList<string> MovingTags { get; init; } = [];

    /// <summary>ImmutableTagPolicy: short, full or version.</summary>
    public string? TagPolicy { get; init; }

    /// <summary>The version for the version tag policy and the version label.</summary>
    public string? Version { get; init; }

    /// <summary>ImmutableSourceRevision: an explicit commit.</summary>
    public string? SourceRevision { get; init; }

    /// <summary>Overwrite existing tags with other content (loudly).</summary>
    public bool AllowTagOverwrite { get; init; }

    /// <summary>OCI (default) or Docker.</summary>
    public string? ImageFormat { get; init; }

    /// <summary>Also write a docker-archive tar here (for docker load).</summary>
    public string? ArchiveOutputPath { get; init; }

    /// <summary>Build facts for the manifest.</summary>
    public string? SdkVersion { get; init; }

    /// <summary>Build configuration.</summary>
    public string? Configuration { get; init; }

    /// <summary>Target framework.</summary>
    public string? TargetFramework { get; init; }

    /// <summary>Environment variables (CI commit variables, SOURCE_DATE_EPOCH, registry credentials); null = the process's.</summary>
    public IReadOnlyDictionary<string, string?>? EnvironmentVariables { get; init; }
}
