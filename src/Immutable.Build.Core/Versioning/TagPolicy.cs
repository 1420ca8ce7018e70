using Immutable.Build.Images;

namespace Immutable.Build.Versioning;

/// <summary>How the release tag is formed from the commit (ImmutableTagPolicy).</summary>
public enum TagPolicy
{
    /// <summary>The 12-character commit SHA (default).</summary>
    ShortSha,

    /// <summary>The full 40-character commit SHA.</summary>
    FullSha,

    /// <summary><c>{Version}-{12-character sha}</c>.</summary>
    VersionSha,
}

/// <summary>Release tags: immutable names derived from the commit.</summary>
public static class ReleaseTags
{
    /// <summary>Parses ImmutableTagPolicy (short, full, version; case-insensitive); throws IMB1003.</summary>
    public static TagPolicy ParsePolicy(string? value) => (value ?? "").Trim().ToLowerInvariant() switch
    {
        "" or "short" or "shortsha" => TagPolicy.ShortSha,
        "full" or "fullsha" => TagPolicy.FullSha,
        "version" or "versionsha" => TagPolicy.VersionSha,
        _ => throw new ImmutableBuildException("IMB1003", $"ImmutableTagPolicy '{value}' is not known; use short (12-character commit, the default), full (40 characters) or version ({{Version}}-{{sha}})."),
    };

    /// <summary>
    /// The release tag. A dirty tree gets <c>&lt;sha&gt;-dirty-&lt;8 hex of the image digest&gt;</c>: two
    /// different uncommitted states never share a tag, and the same state always gets the same one.
    /// </summary>
    public static string Primary(SourceRevision revision, TagPolicy policy, string? version, Digest imageDigest)
    {
        ArgumentNullException.ThrowIfNull(revision);
        var sha = policy == TagPolicy.FullSha ? revision.Commit : revision.ShortCommit;
        var tag = policy == TagPolicy.VersionSha && !string.IsNullOrWhiteSpace(version) ? $"{Sanitize(version)}-{sha}" : sha;
        if (revision.IsDirty)
        {
            tag += "-dirty-" + imageDigest.Hex[..8];
        }

        return tag;
    }

    /// <summary>Checks user-given tags (ContainerImageTags, ImmutableMovingTag); throws IMB1004 naming the bad one.</summary>
    public static void Validate(IEnumerable<string> tags, string property)
    {
        foreach (var tag in tags)
        {
            if (!ImageReference.IsValidTag(tag))
            {
                throw new ImmutableBuildException("IMB1004", $"{property} has '{tag}', which is not a valid tag: use letters, digits, '_', '.' and '-', starting with a letter, digit or '_', at most 128 characters.");
            }
        }
    }

    /// <summary>
    /// Whether a user-given tag names something that moves from build to build (latest, stable, a branch,
    /// a partial version such as 1 or 1.2), so it can never identify one release.
    /// </summary>
    public static bool IsMovingName(string tag, string? branch)
    {
        ArgumentNullException.ThrowIfNull(tag);
        var t = tag.Trim();
        return MovingNames.Contains(t)
            || (branch is { Length: > 0 } && (string.Equals(t, branch, StringComparison.OrdinalIgnoreCase) || string.Equals(t, Sanitize(branch), StringComparison.OrdinalIgnoreCase)))
            || PartialVersion.IsMatch(t);
    }

    /// <summary>Splits user tags into release tags and moving names, keeping their order.</summary>
    public static (IReadOnlyList<string> Release, IReadOnlyList<string> Moving) SplitMoving(IEnumerable<string> tags, string? branch)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var release = new List<string>();
        var moving = new List<string>();
        foreach (var tag in tags.Distinct(StringComparer.Ordinal))
        {
            (IsMovingName(tag, branch) ? moving : release).Add(tag);
        }

        return (release, moving);
    }

    private static readonly HashSet<string> MovingNames = new(
        ["latest", "stable", "edge", "nightly", "current", "head", "main", "master", "dev", "develop", "development", "trunk", "release", "prod", "production", "staging"],
        StringComparer.OrdinalIgnoreCase);

    private static readonly System.Text.RegularExpressions.Regex PartialVersion = new(@"^v?\d+(\.\d+)?$", System.Text.RegularExpressions.RegexOptions.CultureInvariant | System.Text.RegularExpressions.RegexOptions.IgnoreCase);

    // SemVer build metadata ('+') is not allowed in tags.
    private static string Sanitize(string version) => new(version.Trim().Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '-').ToArray());
}
