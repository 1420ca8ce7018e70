namespace Immutable.Build.Versioning;

/// <summary>The IMB1xxx codes of source revisions and tags.</summary>
public static class VersioningErrors
{
    /// <summary>No commit to name the release by.</summary>
    [ErrorCode(
        "The project is not in a git work tree with a commit (or git is missing) and no CI commit variable is set.",
        "Commit the project to git, or pass -p:ImmutableSourceRevision=<commit sha>.")]
    public const string NoSourceRevision = "IMB1001";

    /// <summary>ImmutableSourceRevision is not a commit SHA.</summary>
    [ErrorCode(
        "ImmutableSourceRevision is not a commit SHA.",
        "Give 7 to 64 hex characters, e.g. the output of `git rev-parse HEAD`.")]
    public const string InvalidSourceRevision = "IMB1002";

    /// <summary>Unknown ImmutableTagPolicy.</summary>
    [ErrorCode(
        "ImmutableTagPolicy has an unknown value.",
        "Use short (default), full or version.")]
    public const string UnknownTagPolicy = "IMB1003";

    /// <summary>An invalid tag.</summary>
    [ErrorCode(
        "ContainerImageTags or ImmutableMovingTag holds an invalid tag.",
        "Use letters, digits, '_', '.' and '-', starting with a letter, digit or '_', at most 128 characters.")]
    public const string InvalidTag = "IMB1004";

    /// <summary>A .git that git does not read, so git would answer for an enclosing repository or for none.</summary>
    [ErrorCode(
        "The project's folder (or one above it) holds a .git that git cannot read as a repository: a corrupt HEAD, or a .git file pointing at a folder that is gone. Git would skip it and name the commit of an enclosing repository, or none.",
        "Repair the repository (for a corrupt HEAD: `git symbolic-ref HEAD refs/heads/main`; for a worktree or submodule: `git worktree repair` or `git submodule update --init`), or remove that .git; or pass -p:ImmutableSourceRevision=<commit sha>.")]
    public const string UnreadableRepository = "IMB1033";

    /// <summary>Warning: a user tag is a moving name, so it was pushed as a moving tag, not as the release id.</summary>
    [ErrorCode(
        "ContainerImageTag or ContainerImageTags holds a moving name (latest, stable, edge, a branch such as main or the one being built, or a partial version such as 1 or 1.2); such a name cannot identify one release.",
        "Nothing to do: the tag is moved to the new image like ImmutableMovingTags, and the release id stays the commit's. To silence the warning, move the name to ImmutableMovingTags, or give a tag that names one release.",
        Warning = true)]
    public const string MovingUserTag = "IMB1105";
}
