using Immutable.Build.Images;

namespace Immutable.Build.Registry;

/// <summary>The outcome of a push: per-tag decisions and what moved.</summary>
/// <param name="Registry">The registry, host[:port].</param>
/// <param name="Repository">The repository pushed to.</param>
/// <param name="Digest">The image's manifest digest.</param>
/// <param name="Tags">The guard's decision per tag, in the order given.</param>
/// <param name="BlobsUploaded">Blobs whose bytes were sent.</param>
/// <param name="BlobsMounted">Blobs linked from another repository of the registry.</param>
/// <param name="BlobsPresent">Blobs the repository already had.</param>
/// <param name="BytesUploaded">Blob bytes sent.</param>
/// <param name="ManifestWritten">True when at least one manifest PUT was made.</param>
public sealed record ImagePushResult(
    string Registry,
    string Repository,
    Digest Digest,
    IReadOnlyList<TagGuardResult> Tags,
    IReadOnlyList<Digest> BlobsUploaded,
    IReadOnlyList<Digest> BlobsMounted,
    IReadOnlyList<Digest> BlobsPresent,
    long BytesUploaded,
    bool ManifestWritten)
{
    /// <summary>True when the registry was not changed at all (every tag adopted).</summary>
    public bool NothingPushed => !ManifestWritten && BlobsUploaded.Count == 0 && BlobsMounted.Count == 0;

    /// <summary><c>registry/repository@sha256:...</c>, the reference to deploy.</summary>
    public string Reference => $"{Registry}/{Repository}@{Digest}";
}

/// <summary>
/// Pushes an image under the tag guard. All tags are judged before anything is written, so a
/// refused tag leaves the registry untouched; a rerun of the same build writes nothing.
/// A registry has no compare-and-swap on tags, so the guard's first read cannot stop a racer: a tag that was absent is
/// written only under the repository's <see cref="RepositoryLease"/>, read again under it, and read back once the
/// lease's settle time has passed. What this guarantees among Immutable.Build publishers whose round trips take less than
/// the settle time: a push that reports success leaves the tag at its digest, every racer with other content fails with
/// IMB2021 naming both digests, and racers with the same image adopt it. A writer that does not take the lease (docker push,
/// an explicit overwrite) can still move the tag afterwards; the read-back only makes a move during the push loud.
/// </summary>
public static class ImagePusher
{
    private const int ParallelBlobs = 3;

    /// <summary>
    /// Pushes <paramref name="image"/> to <paramref name="repository"/> under <paramref name="tags"/>
    /// (by digest only when there are none). Throws IMB2016, writing nothing, when a tag points at
    /// other content and <paramref name="allowOverwrite"/> is false, saying why once it has compared the image under the
    /// tag with this one (<paramref name="hints"/> adds build facts the images do not carry). Throws IMB2021 when a concurrent
    /// publish of other content wrote a tag that was absent at the start, IMB2022 when the lease cannot be had in time.
    /// When every tag already names this image the only requests are one manifest HEAD per tag: no lease.
    /// <paramref name="leaseTiming"/> defaults to <see cref="RepositoryLeaseTiming.Default"/>.
    /// </summary>
    public static Task<ImagePushResult> PushAsync(
        RegistryClient client,
        string repository,
        ImageContent image,
        IReadOnlyList<string> tags,
        bool allowOverwrite,
        Action<string>? log,
        CancellationToken cancellationToken,
        TagConflictHints? hints = null,
        RepositoryLeaseTiming? leaseTiming = null)
        => PushAsync(client, repository, image, tags, allowOverwrite, log, null, cancellationToken, hints, leaseTiming);

    /// <summary>
    /// As above; <paramref name="streamed"/> names blobs (with their sizes) that were already uploaded to the repository
    /// while their layers compressed: they are still checked for, and counted as uploaded rather than found present.
    /// </summary>
    internal static async Task<ImagePushResult> PushAsync(
        RegistryClient client,
        string repository,
        ImageContent image,
        IReadOnlyList<string> tags,
        bool allowOverwrite,
        Action<string>? log,
        IReadOnlyDictionary<Digest, long>? streamed,
        CancellationToken cancellationToken,
        TagConflictHints? hints = null,
        RepositoryLeaseTiming? leaseTiming = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(tags);
        RegistryNames.ValidateRepository(repository);
        foreach (var tag in tags)
        {
            RegistryNames.ValidateTag(tag);
        }

        var target = $"{client.Registry}/{repository}";
        var digest = image.Digest;
        var guard = await TagGuard.EvaluateAsync(client, repository, digest, tags, allowOverwrite, cancellationToken);
        var refused = guard.Where(g => g.Decision == TagDecision.Refuse).ToList();
        if (refused.Count > 0)
        {
            throw RegistryErrors.Refused(client.Registry, repository, digest, refused, await ExplainAsync(client, repository, image, refused, hints, cancellationToken));
        }

        foreach (var g in guard.Where(g => g.Decision == TagDecision.Overwrite))
        {
            log?.Invoke($"WARNING: overwriting tag {target}:{g.Tag}, which pointed at {g.ExistingDigest}, with {digest} because overwriting was explicitly allowed. Anything deployed by that tag changes meaning.");
        }

        var toWrite = guard.Where(g => g.Decision is TagDecision.Push or TagDecision.Overwrite).ToList();
        var adopted = guard.Where(g => g.Decision == TagDecision.Adopt).ToList();
        foreach (var g in adopted)
        {
            log?.Invoke($"{target}:{g.Tag} already is {digest}; nothing pushed for it");
        }

        if (guard.Count > 0 && toWrite.Count == 0)
        {
            return new ImagePushResult(client.Registry, repository, digest, guard, [], [], [], 0, false);
        }

        // A manifest already in the repository (under another tag, or untagged) proves its blobs
        // are there too: registries refuse a manifest whose blobs are missing.
        var manifestPresent = adopted.Count > 0 || await client.HeadManifestAsync(repository, digest.Value, cancellationToken) is not null;
        if (guard.Count == 0 && manifestPresent)
        {
            log?.Invoke($"{target}@{digest} already exists; nothing pushed");
            return new ImagePushResult(client.Registry, repository, digest, guard, [], [], [], 0, false);
        }

        var uploaded = new List<Digest>();
        var mounted = new List<Digest>();
        var present = new List<Digest>();
        long bytes = 0;
        var blobs = new[] { image.Config }.Concat(image.Layers)
            .GroupBy(b => b.Descriptor.Digest, StringComparer.Ordinal)
            .Select(g => g.First())
            .ToList();

        // Only a tag that was absent needs the lease: an explicit overwrite already gave up the guard.
        var guarded = toWrite.Where(g => g.Decision == TagDecision.Push).Select(g => g.Tag).ToHashSet(StringComparer.Ordinal);
        var decided = guard.ToDictionary(g => g.Tag, StringComparer.Ordinal);
        var timing = leaseTiming ?? RepositoryLeaseTiming.Default;
        using var leaseCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<RepositoryLease?>? leaseTask = null;
        Task<RepositoryLease?> TakeLease() => RepositoryLease.AcquireAsync(client, repository, image.Config.Descriptor, timing, ct => RecheckAsync(client, repository, digest, guarded, decided, ct), cancellationToken, leaseCancel.Token);
        RepositoryLease? lease = null;
        var finished = false;
        try
        {
            if (manifestPresent)
            {
                present.AddRange(blobs.Select(b => Digest.Parse(b.Descriptor.Digest)));
                log?.Invoke($"{target}@{digest} is already in the repository; only tags are written");
            }
            else
            {
                // The lease's own manifest names the config blob, so the config goes first; the lease is then taken while
                // the layers upload, and its settle time is spent on them instead of after them.
                var outcomes = new BlobOutcome[blobs.Count];
                var config = blobs.FindIndex(b => b.Descriptor.Digest == image.Config.Descriptor.Digest);
                outcomes[config] = await PushBlobAsync(client, repository, blobs[config], streamed, cancellationToken);
                if (guarded.Count > 0)
                {
                    leaseTask = TakeLease();
                }

                await Parallel.ForEachAsync(
                    Enumerable.Range(0, blobs.Count).Where(i => i != config),
                    new ParallelOptions { MaxDegreeOfParallelism = ParallelBlobs, CancellationToken = cancellationToken },
                    async (i, ct) => outcomes[i] = await PushBlobAsync(client, repository, blobs[i], streamed, ct));
                foreach (var outcome in outcomes)
                {
                    switch (outcome.Kind)
                    {
                        case BlobOutcomeKind.Present:
                            present.Add(outcome.Digest);
                            break;
                        case BlobOutcomeKind.Mounted:
                            mounted.Add(outcome.Digest);
                            break;
                        default:
                            uploaded.Add(outcome.Digest);
                            bytes += outcome.Bytes;
                            break;
                    }
                }

                log?.Invoke($"{target}: {uploaded.Count} blob(s) uploaded ({RegistryClient.FormatSize(bytes)}), {mounted.Count} mounted, {present.Count} already present");
            }

            if (guard.Count == 0)
            {
                await client.PutManifestAsync(repository, digest.Value, image.Manifest, image.ManifestMediaType, cancellationToken);
                finished = true;
                return new ImagePushResult(client.Registry, repository, digest, guard, uploaded, mounted, present, bytes, true);
            }

            if (guarded.Count > 0)
            {
                lease = await (leaseTask ?? TakeLease());
                if (lease is not null)
                {
                    // Whoever held the lease before may have written the tag: this read, under the lease, is the one that counts.
                    await RecheckAsync(client, repository, digest, guarded, decided, cancellationToken);
                }
            }

            var writing = toWrite.Where(g => decided[g.Tag].Decision != TagDecision.Adopt).ToList();
            foreach (var g in writing)
            {
                await client.PutManifestAsync(repository, g.Tag, image.Manifest, image.ManifestMediaType, cancellationToken);
            }

            if (writing.Count > 0)
            {
                await VerifyAsync(client, repository, digest, writing, guarded, lease?.Settle ?? TimeSpan.Zero, log, cancellationToken);
            }

            guard = tags.Distinct(StringComparer.Ordinal).Select(t => decided[t]).ToList();
            foreach (var g in guard.Where(g => g.Decision == TagDecision.Adopt && g.ExistingDigest == digest && guarded.Contains(g.Tag)))
            {
                log?.Invoke($"{target}:{g.Tag} was written with {digest} by a concurrent publish of this same image; adopted");
            }

            finished = true;
            return new ImagePushResult(client.Registry, repository, digest, guard, uploaded, mounted, present, bytes, writing.Count > 0);
        }
        finally
        {
            if (leaseTask is not null && lease is null)
            {
                // An upload failed while the lease was being taken: stop taking it, and free it if it was had already.
                if (!finished)
                {
                    await leaseCancel.CancelAsync();
                }

                try
                {
                    lease = await leaseTask;
                }
                catch (Exception e) when (e is OperationCanceledException or ImmutableBuildException or HttpRequestException)
                {
                    // The failure being thrown is the one reported.
                }
            }

            if (lease is not null)
            {
                await lease.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Looks at the guarded tags again: one now at this digest was written by a racer with the same image (adopted, which
    /// is success); one at another digest was taken by a racer (IMB2021). True while any is still absent.
    /// </summary>
    private static async Task<bool> RecheckAsync(RegistryClient client, string repository, Digest digest, HashSet<string> guarded, Dictionary<string, TagGuardResult> decided, CancellationToken cancellationToken)
    {
        var absent = false;
        foreach (var tag in guarded.Where(t => decided[t].Decision == TagDecision.Push))
        {
            var now = (await client.HeadManifestAsync(repository, tag, cancellationToken))?.Digest;
            if (now is null)
            {
                absent = true;
            }
            else if (now == digest)
            {
                decided[tag] = new TagGuardResult(tag, TagDecision.Adopt, now);
            }
            else
            {
                throw Taken(client, repository, tag, now.Value, digest, "another publisher wrote it first");
            }
        }

        return absent;
    }

    private static async Task VerifyAsync(RegistryClient client, string repository, Digest digest, List<TagGuardResult> written, HashSet<string> guarded, TimeSpan settle, Action<string>? log, CancellationToken cancellationToken)
    {
        // A racer that slipped past the lease (its read and write further apart than the settle time) writes within that
        // time too: reading back only after it has passed is what makes a silent loss loud.
        if (settle > TimeSpan.Zero)
        {
            await Task.Delay(settle, cancellationToken);
        }

        var target = $"{client.Registry}/{repository}";
        foreach (var g in written)
        {
            var now = await client.HeadManifestAsync(repository, g.Tag, cancellationToken);
            if (now?.Digest != digest)
            {
                if (guarded.Contains(g.Tag) && now is not null)
                {
                    throw Taken(client, repository, g.Tag, now.Digest, digest, "another publisher wrote it over this push's write");
                }

                throw RegistryErrors.Error(
                    RegistryErrors.TagChangedDuringPush,
                    $"{target}:{g.Tag} points at {now?.Digest.ToString() ?? "nothing"} right after this push wrote {digest} to it: another publisher wrote the tag concurrently. Find the concurrent publisher, then publish again.");
            }

            log?.Invoke(g.Decision == TagDecision.Overwrite
                ? $"{target}:{g.Tag} overwritten: {g.ExistingDigest} -> {digest}"
                : $"{target}:{g.Tag} pushed as {digest}");
        }
    }

    private static ImmutableBuildException Taken(RegistryClient client, string repository, string tag, Digest winner, Digest digest, string how) =>
        RegistryErrors.Error(
            RegistryErrors.TagTakenConcurrently,
            $"Lost the race for {client.Registry}/{repository}:{tag}: it was absent when this publish began, but {how}; it now points at {winner}, while this build produced {digest}. "
            + "This build's tag was not kept (its blobs may be in the repository, untagged). A fixed tag belongs to one commit: stop publishing it from several commits or pipelines at once.");

    private static async Task<IReadOnlyList<TagConflict>> ExplainAsync(RegistryClient client, string repository, ImageContent image, List<TagGuardResult> refused, TagConflictHints? hints, CancellationToken cancellationToken)
    {
        // Reads only: the refusal still writes nothing, and an image that cannot be read leaves the plain message.
        var conflicts = new List<TagConflict>();
        if (TagConflict.TryOf(image, hints?.Current ?? TagConflictHints.Empty) is not { } built)
        {
            return conflicts;
        }

        foreach (var r in refused)
        {
            var existing = r.ExistingDigest!.Value;
            if (await TagConflict.TryReadAsync(client, repository, existing, hints?.For(existing) ?? TagConflictHints.Empty, cancellationToken) is { } other)
            {
                conflicts.Add(TagConflict.Compare(r.Tag, existing, other, built));
            }
        }

        return conflicts;
    }

    private static async Task<BlobOutcome> PushBlobAsync(RegistryClient client, string repository, BlobContent blob, IReadOnlyDictionary<Digest, long>? streamed, CancellationToken cancellationToken)
    {
        var digest = Digest.Parse(blob.Descriptor.Digest);
        if (await client.BlobExistsAsync(repository, digest, cancellationToken))
        {
            return streamed is not null && streamed.TryGetValue(digest, out var sent)
                ? new BlobOutcome(digest, BlobOutcomeKind.Uploaded, sent)
                : new BlobOutcome(digest, BlobOutcomeKind.Present, 0);
        }

        var result = await client.UploadBlobAsync(repository, blob, cancellationToken);
        return result.Mounted
            ? new BlobOutcome(digest, BlobOutcomeKind.Mounted, 0)
            : new BlobOutcome(digest, BlobOutcomeKind.Uploaded, result.BytesUploaded);
    }

    private enum BlobOutcomeKind
    {
        Present,
        Mounted,
        Uploaded,
    }

    private sealed record BlobOutcome(Digest Digest, BlobOutcomeKind Kind, long Bytes);
}
