namespace Immutable.Build.Tasks;

/// <summary>The codes only the MSBuild tasks report: settings that exist only as MSBuild properties.</summary>
internal static class TaskErrors
{
    /// <summary>Unknown ImmutableEngine.</summary>
    [ErrorCode(
        "ImmutableEngine has an unknown value.",
        "Use auto (default), immutable or sdk.")]
    public const string UnknownEngine = "IMB1005";

    /// <summary>Warning: an Immutable* property the package does not read, most likely misspelt.</summary>
    [ErrorCode(
        "A property whose name starts with Immutable, set with -p: or in the project file or Directory.Build.props/.targets, is not one Immutable.Build reads, so it has no effect.",
        "Correct the name (the warning suggests the closest known one), or remove it. To keep a property of your own under that prefix, add IMB1106 to MSBuildWarningsAsMessages.",
        Warning = true)]
    public const string UnknownProperty = "IMB1106";
}
