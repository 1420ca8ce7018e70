namespace Immutable.Build.Deployments;

/// <summary>The IMB4002-IMB4007 codes of a bake (<see cref="Baker"/>: `dotnet publish` run for an adapter), each with its cause and fix.</summary>
public static class BakeErrors
{
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
