namespace Immutable.Build.Cli;

/// <summary>The codes only the `immutable` command reports: its command line.</summary>
internal static class CliErrors
{
    /// <summary>The command line does not parse.</summary>
    [ErrorCode(
        "The command line of `immutable` does not parse: an unknown command or option, a missing argument, or an option without its value.",
        "Run `immutable --help`, or `immutable <command> --help`, for the commands and the options each takes.")]
    public const string BadCommandLine = "IMB1031";

    /// <summary>--state-dir names a file.</summary>
    [ErrorCode(
        "--state-dir (or IMMUTABLE_STATE_DIR) names a file, not a folder: the state there could be neither read nor written.",
        "Give the state directory's folder, or leave it out for the default (~/.local/state/immutable-build).")]
    public const string StateDirIsFile = "IMB1032";
}
