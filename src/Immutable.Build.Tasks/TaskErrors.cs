namespace Immutable.Build.Tasks;

/// <summary>The codes only the MSBuild tasks report: settings that exist only as MSBuild properties.</summary>
internal static class TaskErrors
{
    /// <summary>Unknown ImmutableEngine.</summary>
    [ErrorCode(
        "ImmutableEngine has an unknown value.",
        "Use auto (default), immutable or sdk.")]
    public const string UnknownEngine = "IMB1005";
}
