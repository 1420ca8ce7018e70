using Immutable.Build.Images;

namespace Immutable.Build.Registry;

/// <summary>What the tag guard decided for one tag.</summary>
public enum TagDecision
{
    /// <summary>The tag does not exist: write it.</summary>
    Push,

    /// <summary>The tag already points at this image: nothing to write (a rerun).</summary>
    Adopt,

    /// <summary>The tag points at other content: never overwritten without an explicit override.</summary>
    Refuse,

    /// <summary>The tag points at other content and the caller explicitly allowed overwriting it (warn loudly).</summary>
    Overwrite,
}

/// <summary>The guard's decision for one tag, with the digest the tag pointed at before (null when absent).</summary>
public sealed record TagGuardResult(string Tag, TagDecision Decision, Digest? ExistingDigest);

/// <summary>
/// The tag guard: a tag is written only when it is absent, adopted when it already names the same
/// digest, and otherwise refused, unless the caller explicitly allows overwriting.
/// </summary>
public static class TagGuard
{
    /// <summary>The decision for one tag, given the digest it points at now (null when absent).</summary>
    public static TagDecision Decide(Digest image, Digest? existing, bool allowOverwrite) =>
        existing is null ? TagDecision.Push
        : existing.Value == image ? TagDecision.Adopt
        : allowOverwrite ? TagDecision.Overwrite
        : TagDecision.Refuse;

    /// <summary>Looks every tag up (one manifest HEAD each) and decides; writes nothing.</summary>
    public static async Task<IReadOnlyList<TagGuardResult>> EvaluateAsync(
        RegistryClient client,
        string repository,
        Digest image,
        IReadOnlyList<string> tags,
        bool allowOverwrite,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(tags);
        RegistryNames.ValidateRepository(repository);
        var results = new List<TagGuardResult>(tags.Count);
        foreach (var tag in tags.Distinct(StringComparer.Ordinal))
        {
            RegistryNames.ValidateTag(tag);
            var existing = await client.HeadManifestAsync(repository, tag, cancellationToken);
            results.Add(new TagGuardResult(tag, Decide(image, existing?.Digest, allowOverwrite), existing?.Digest));
        }

        return results;
    }
}
