namespace Immutable.Build.Versioning;

/// <summary>Where a <see cref="SourceRevision"/> was read from.</summary>
public enum RevisionOrigin
{
    /// <summary>The git repository around the project.</summary>
    Git,

    /// <summary>A CI system's commit variable (the repository was absent).</summary>
    CiVariable,

    /// <summary>The ImmutableSourceRevision property.</summary>
    Explicit,
}

/// <summary>The commit a release is built from.</summary>
/// <param name="Commit">The full commit SHA, lowercase hex.</param>
/// <param name="IsDirty">Tracked changes or untracked, not ignored files in the work tree.</param>
/// <param name="CommitTime">The committer time; every timestamp in the image is this (or SOURCE_DATE_EPOCH).</param>
/// <param name="RepositoryUrl">The remote URL with any credentials removed, when known.</param>
/// <param name="Origin">What the revision was read from.</param>
/// <param name="OriginDetail">The variable name for <see cref="RevisionOrigin.CiVariable"/>, else null.</param>
public sealed record SourceRevision(string Commit, bool IsDirty, DateTimeOffset CommitTime, string? RepositoryUrl, RevisionOrigin Origin, string? OriginDetail = null)
{
    /// <summary>The first 12 characters of the commit, the default tag.</summary>
    public string ShortCommit => Commit.Length > 12 ? Commit[..12] : Commit;

    /// <summary>The branch checked out, when git names one (null when detached or not read from git).</summary>
    public string? Branch { get; init; }
}
