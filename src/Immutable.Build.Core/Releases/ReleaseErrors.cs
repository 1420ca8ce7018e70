namespace Immutable.Build.Releases;

/// <summary>The IMB1xxx (settings of a release) and IMB4xxx (release manifests and bakes) codes of releases.</summary>
public static class ReleaseErrors
{
    /// <summary>Unknown ContainerImageFormat.</summary>
    [ErrorCode(
        "ContainerImageFormat has an unknown value.",
        "Use OCI (default) or Docker.")]
    public const string UnknownImageFormat = "IMB1006";

    /// <summary>The publish folder is missing.</summary>
    [ErrorCode(
        "The publish folder does not exist when the release runs.",
        "Run the release through `dotnet publish`, not `dotnet build`.")]
    public const string NoPublishFolder = "IMB1007";

    /// <summary>Warning: the release was built from a dirty work tree.</summary>
    [ErrorCode(
        "The work tree has uncommitted changes; the release is tagged <sha>-dirty-<8 hex of the image digest>.",
        "Commit, then publish, for a release named by its commit.",
        Warning = true)]
    public const string DirtyWorkTree = "IMB1101";

    /// <summary>Warning: the SDK's engine built a release that is not reproducible.</summary>
    [ErrorCode(
        "The release was built by the SDK's engine (-t:PublishContainer) and is not reproducible.",
        "Publish without -t:PublishContainer for a reproducible, layered image.",
        Warning = true)]
    public const string NotReproducible = "IMB1102";

    /// <summary>A release.json that cannot be used.</summary>
    [ErrorCode(
        "A release.json is missing, unreadable or of a newer schema version.",
        "Publish again to rewrite it, or update Immutable.Build.")]
    public const string ManifestUnreadable = "IMB4001";

    /// <summary>The project to bake does not exist.</summary>
    [ErrorCode(
        "A bake (the Cake alias ImmutableBake) was given a project that does not exist.",
        "Give the path of the app's project file, or of its folder.")]
    public const string BakeProjectMissing = "IMB4002";

    /// <summary>The bake's publish failed.</summary>
    [ErrorCode(
        "The bake's `dotnet publish` failed without an IMB error of its own (a compile error, a restore failure).",
        "Its output, shown above the error, says why.")]
    public const string BakePublishFailed = "IMB4003";

    /// <summary>The bake's publish recorded no release.</summary>
    [ErrorCode(
        "The bake's `dotnet publish` succeeded but recorded no release: the project does not reference Immutable.Build, or ImmutableEnabled=false.",
        "Add the package reference, and leave ImmutableEnabled unset (or true).")]
    public const string BakeNoRelease = "IMB4004";

    /// <summary>A bake property name MSBuild cannot take.</summary>
    [ErrorCode(
        "A bake was given a property name MSBuild cannot take.",
        "Use letters, digits, '_' and '-', starting with a letter or '_'.")]
    public const string BakePropertyInvalid = "IMB4005";

    /// <summary>dotnet could not be started for the bake.</summary>
    [ErrorCode(
        "A bake could not start dotnet.",
        "Install the .NET SDK, or set DOTNET_HOST_PATH to the dotnet executable.")]
    public const string BakeDotnetUnavailable = "IMB4006";

    /// <summary>The bake's publish wrote no result file.</summary>
    [ErrorCode(
        "The bake's `dotnet publish` reported no results: the SDK is older than 8.0.400 and cannot write -getResultOutputFile.",
        "Use the .NET 8.0.400 SDK or later (check global.json).")]
    public const string BakeNoResults = "IMB4007";

    internal static ImmutableBuildException InvalidPropertyName(string name) =>
        new(BakePropertyInvalid, $"'{name}' is not an MSBuild property name; use letters, digits, '_' and '-', starting with a letter or '_'.");

    internal static ImmutableBuildException DotnetNotStarted(string fileName, Exception e) =>
        new(BakeDotnetUnavailable, $"dotnet could not be started ({fileName}: {e.Message}); install the .NET SDK or set DOTNET_HOST_PATH.");

    internal static ImmutableBuildException NoResults(string project) =>
        new(BakeNoResults, $"dotnet publish of {project} reported no results; this needs the .NET 8.0.400 SDK or later.");
}
