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

    // SemVer build metadata ('+') is not allowed in tags.
    private static string Sanitize(string version) => new(version.Trim().Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '-').ToArray());
}
