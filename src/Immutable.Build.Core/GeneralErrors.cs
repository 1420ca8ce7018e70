namespace Immutable.Build;

/// <summary>The IMB0xxx codes every adapter (MSBuild tasks, CLI, Cake) reports for failures that belong to no feature.</summary>
public static class GeneralErrors
{
    /// <summary>The operation was cancelled.</summary>
    [ErrorCode(
        "The release or command was cancelled (Ctrl+C) before it finished; a release tags nothing until it has finished.",
        "Run it again: a publish starts over, and the next rollout command finishes or rolls back an interrupted rollout.")]
    public const string Cancelled = "IMB0002";

    /// <summary>A failure nothing foresaw.</summary>
    [ErrorCode(
        "An unexpected failure (a bug or an environment problem not foreseen); nothing was tagged.",
        "Rerun with -v:diag for the details and report it if it persists.")]
    public const string Unexpected = "IMB0003";

    /// <summary>A file could not be written: no space left.</summary>
    [ErrorCode(
        "The disk (or the user's quota) is full: a file of the release output or the state directory could not be written; the message names it. Files are written through temporary names, which are removed, and a journal or ledger line that did not fit is taken back, so nothing is half-written.",
        "Free space on that file system, or point the output folder or ImmutableStateDir / IMMUTABLE_STATE_DIR at another disk, and run again.")]
    public const string DiskFull = "IMB0020";
}
