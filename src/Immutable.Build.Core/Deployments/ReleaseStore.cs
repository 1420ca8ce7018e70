using Immutable.Build.Images;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;

namespace Immutable.Build.Deployments;

/// <summary>A release as a rollout should read it, and the store lease that keeps its image there while it runs.</summary>
public sealed class KeptRelease : IDisposable
{
    private readonly ImageStoreLease? _lease;

    internal KeptRelease(ReleaseRef release, ImageStoreLease? lease)
    {
        Release = release;
        _lease = lease;
    }

    /// <summary>The release, its image source the store when the store keeps it.</summary>
    public ReleaseRef Release { get; }

    /// <inheritdoc />
    public void Dispose() => _lease?.Dispose();
}

/// <summary>
/// Keeps the images of releases deployed from an OCI layout in the state directory's <see cref="ImageStore"/>, by
/// digest, so a rollback never depends on the layout under bin/ or obj/. A release in a registry is pulled by
/// digest and is not copied. Each scope holds what its retention keeps, plus the release a plain rollback returns to.
/// </summary>
public static class ReleaseStore
{
    /// <summary>
    /// Copies <paramref name="release"/>'s image from its OCI layout into the store (or finds it there when the
    /// layout is gone) and holds it for <paramref name="scope"/>; the rollout reads <see cref="KeptRelease.Release"/>.
    /// A layout without the image and a store without it leave the release as it is: the target says what is missing.
    /// </summary>
    public static async Task<KeptRelease> KeepAsync(string stateDirectory, DeploymentScope scope, ReleaseRef release, ReleaseLog log, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(release);
        ArgumentNullException.ThrowIfNull(log);
        if (!release.ImageSource.StartsWith("oci:", StringComparison.Ordinal) || !Digest.TryParse(release.ImageDigest, out var digest))
        {
            return new KeptRelease(release, null);
        }

        var store = ImageStore.In(stateDirectory, time);
        using var layout = store.IsSource(release.ImageSource) ? null : TryOpen(release.ImageSource, digest);
        if (layout is null && !store.Contains(digest))
        {
            if (store.IsSource(release.ImageSource))
            {
                throw ImageErrors.NotInStore(store.Directory, digest.Value);
            }

            return new KeptRelease(release, null);
        }

        var lease = await store.KeepAsync(digest, layout, scope.Key, cancellationToken);
        log.Detail(lease.BlobsWritten == 0
            ? $"release {release.ReleaseId} ({digest}) is in the image store {store.Directory}"
            : $"kept release {release.ReleaseId} ({digest}) in the image store {store.Directory} ({lease.BlobsWritten} blob(s) copied)");
        return new KeptRelease(release with { ImageSource = store.Source }, lease);
    }

    /// <summary>
    /// After a retention prune of <paramref name="scope"/>: the store holds for it the releases <paramref name="pruned"/>
    /// kept and the one a plain rollback returns to (from <paramref name="ledger"/>), and drops images no scope holds.
    /// </summary>
    public static async Task PruneAsync(string stateDirectory, DeploymentScope scope, PruneResult pruned, IReadOnlyList<LedgerEntry> ledger, ReleaseLog log, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(pruned);
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(log);
        var keep = pruned.Kept.Select(k => k.ImageDigest).ToHashSet(StringComparer.Ordinal);
        if (RollbackTarget(ledger) is { } previous)
        {
            keep.Add(previous.ImageDigest);
        }

        var store = ImageStore.In(stateDirectory, time);
        var removed = await store.PruneAsync(scope.Key, keep.Where(d => Digest.TryParse(d, out _)).ToList(), cancellationToken);
        if (removed.Count > 0)
        {
            log.Detail($"image store {store.Directory}: removed {string.Join(", ", removed)}");
        }
    }

    // What RolloutEngine.RollbackAsync picks without a release id: the last successful release other than the current one.
    private static ReleaseRef? RollbackTarget(IReadOnlyList<LedgerEntry> ledger)
    {
        var current = ReleaseLedger.LastRollout(ledger)?.Current?.ImageDigest;
        return ledger.LastOrDefault(e => e.IsSuccessfulRollout && e.Release is not null && e.Release.ImageDigest != current)?.Release;
    }

    // A layout that is gone (rm -rf bin) or no longer has the image is no source; any other fault of it is reported.
    private static IImageSource? TryOpen(string source, Digest digest)
    {
        var folder = source[4..];
        if (!Directory.Exists(folder) && folder.LastIndexOf(':') is var colon and > 0)
        {
            folder = folder[..colon];
        }

        if (!File.Exists(Path.Combine(folder, "oci-layout")) || !File.Exists(Path.Combine(folder, "blobs", "sha256", digest.Hex)))
        {
            return null;
        }

        return OciLayoutSource.Open(source, folder);
    }
}
