using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Immutable.Build.Images;

namespace Immutable.Build.Registry;

/// <summary>How long the publish lease waits, settles and lives; the defaults suit a registry that answers within tens of milliseconds.</summary>
/// <param name="Settle">
/// The least time a write is left to settle before it is read back. Any publisher whose read of the lease and write of it are
/// further apart than the settle time can still slip past the lease: this is the bound the guarantee rests on. The settle time
/// is this, or <see cref="SettleFactor"/> times this publisher's own read-to-write time when that is longer (a racer talks to
/// the same registry, so a slow registry makes every racer's gap long): see <see cref="SettleFor"/>.
/// </param>
/// <param name="Stale">How long a lease must stand unchanged before another publisher takes it over (its holder was killed).</param>
/// <param name="Wait">How long a publisher waits for a held lease before giving up with IMB2022.</param>
/// <param name="Poll">How often a waiting publisher looks again (jittered up to twice this).</param>
public sealed record RepositoryLeaseTiming(TimeSpan Settle, TimeSpan Stale, TimeSpan Wait, TimeSpan Poll)
{
    /// <summary>
    /// At least 150 ms to settle, or 4x this publisher's own lease read-to-write time up to 2 s; taken over after 30 s unchanged,
    /// 2 min of waiting, a look every 100-200 ms. On a loopback registry a racer's read-to-write time is a few milliseconds and
    /// its worst pauses (a GC, a busy core) tens; a registry across a network scales the settle with its round trips.
    /// </summary>
    public static RepositoryLeaseTiming Default { get; } = new(TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));

    /// <summary>How many times this publisher's own read-to-write time the settle lasts when that exceeds <see cref="Settle"/>.</summary>
    public double SettleFactor { get; init; } = 4;

    /// <summary>The most a settle lasts, however slow the registry (never less than <see cref="Settle"/>).</summary>
    public TimeSpan MaxSettle { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The settle time after a lease write that came <paramref name="readToWrite"/> after the read that found the lease free.</summary>
    public TimeSpan SettleFor(TimeSpan readToWrite)
    {
        var scaled = TimeSpan.FromTicks((long)Math.Min(readToWrite.Ticks * SettleFactor, TimeSpan.MaxValue.Ticks / 2.0));
        var most = MaxSettle > Settle ? MaxSettle : Settle;
        return scaled <= Settle ? Settle : scaled >= most ? most : scaled;
    }
}

/// <summary>
/// A per-repository publish lease, because an OCI registry has no compare-and-swap on tags: the lease is a tiny manifest
/// under the tag <see cref="Tag"/> naming its holder. A publisher writes its own, waits <see cref="RepositoryLeaseTiming.Settle"/>
/// for every racer's write to land, and holds the lease only if the tag still names it; so publishers that all go through
/// the lease write guarded tags one at a time. A holder that is killed leaves its lease behind: it is taken over once it has
/// stood unchanged for <see cref="RepositoryLeaseTiming.Stale"/>, measured on the waiter's own clock so clock skew does not matter.
/// What remains unguarded: a publisher whose lease read and write are further apart than the settle time, and tools that
/// do not use the lease at all (docker push, another release tool); the pusher's settled read-back after its tag write
/// turns the first into a loud IMB2021, and nothing can stop the second.
/// </summary>
internal sealed class RepositoryLease : IAsyncDisposable
{
    /// <summary>The tag the lease lives under; a registry that refuses deletes keeps it, pointing at the released marker.</summary>
    public const string Tag = "immutable-build-lease";

    /// <summary>The settle time this lease was taken with; the pusher's read-back after its tag write waits as long.</summary>
    public TimeSpan Settle { get; private set; }

    private const string HolderAnnotation = "build.immutable.lease.holder";
    private const string Released = "released";

    private readonly RegistryClient _client;
    private readonly string _repository;
    private readonly Digest _mine;
    private readonly Descriptor _blob;

    private RepositoryLease(RegistryClient client, string repository, Digest mine, Descriptor blob)
    {
        _client = client;
        _repository = repository;
        _mine = mine;
        _blob = blob;
    }

    /// <summary>
    /// Takes the lease of <paramref name="repository"/>, or returns null as soon as <paramref name="stillNeeded"/> says that
    /// what it was wanted for has been settled by another publisher while waiting (asked before every wait, never while held).
    /// <paramref name="blob"/> is a blob already in the repository (the image's config): a registry refuses a manifest whose
    /// blobs are missing, and reusing one costs no upload.
    /// </summary>
    /// <remarks>
    /// <paramref name="stopWaiting"/> ends the waits (the settle, the polls) but never a lease write in flight: a write cut off
    /// may still land after the look that would have found it, and a lease left behind holds every other publisher off.
    /// </remarks>
    public static async Task<RepositoryLease?> AcquireAsync(RegistryClient client, string repository, Descriptor blob, RepositoryLeaseTiming timing, Func<CancellationToken, Task<bool>> stillNeeded, CancellationToken cancellationToken, CancellationToken stopWaiting = default)
    {
        using var waits = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopWaiting);
        var mine = Manifest(blob, Guid.NewGuid().ToString("N"));
        var mineDigest = Digest.Of(mine);
        var waited = Stopwatch.StartNew();
        Digest? seen = null;
        var seenFor = Stopwatch.StartNew();
        while (true)
        {
            waits.Token.ThrowIfCancellationRequested();
            var read = Stopwatch.GetTimestamp();
            var lease = await client.TryGetManifestAsync(repository, Tag, cancellationToken);
            var current = lease?.Digest;
            if (current != seen)
            {
                seen = current;
                seenFor.Restart();
            }

            var free = lease is null || Holder(lease.Content) == Released || seenFor.Elapsed >= timing.Stale;
            if (free)
            {
                var candidate = new RepositoryLease(client, repository, mineDigest, blob);
                try
                {
                    await client.PutManifestAsync(repository, Tag, mine, MediaTypes.OciManifest, cancellationToken);
                    candidate.Settle = timing.SettleFor(Stopwatch.GetElapsedTime(read));
                    await Task.Delay(candidate.Settle, waits.Token);
                    if ((await client.HeadManifestAsync(repository, Tag, cancellationToken))?.Digest == mineDigest)
                    {
                        return candidate;
                    }
                }
                catch
                {
                    // The write may have landed though its answer or the read-back did not: a lease left behind would hold
                    // every other publisher off until it goes stale.
                    await candidate.DisposeAsync();
                    throw;
                }
            }

            if (!await stillNeeded(cancellationToken))
            {
                return null;
            }

            if (waited.Elapsed >= timing.Wait)
            {
                throw RegistryErrors.Error(
                    RegistryErrors.LeaseUnavailable,
                    $"{client.Registry}/{repository}:{Tag} was held by another publisher ({current?.ToString() ?? "replaced over and over"}) for all of {timing.Wait.TotalSeconds:0} s; nothing was tagged. Publish again once the other publish ends.");
            }

            await Task.Delay(timing.Poll + TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * timing.Poll.TotalMilliseconds), waits.Token);
        }
    }

    /// <summary>
    /// Frees the lease if it is still this publisher's: deleted where the registry allows it (so the tag disappears),
    /// else replaced by the released marker. Never throws: an unreleased lease only delays the next publisher until it is stale.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            if ((await _client.HeadManifestAsync(_repository, Tag, timeout.Token))?.Digest != _mine)
            {
                return;
            }

            try
            {
                await _client.DeleteManifestAsync(_repository, _mine, timeout.Token);
            }
            catch (ImmutableBuildException)
            {
                await _client.PutManifestAsync(_repository, Tag, Manifest(_blob, Released), MediaTypes.OciManifest, timeout.Token);
            }
        }
        catch (Exception e) when (e is ImmutableBuildException or OperationCanceledException or HttpRequestException)
        {
            // Releasing is a courtesy to the next publisher; the lease goes stale on its own.
        }
    }

    private static byte[] Manifest(Descriptor blob, string holder) => Encoding.UTF8.GetBytes(
        "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OciManifest + "\","
        + $"\"config\":{{\"mediaType\":\"{blob.MediaType}\",\"digest\":\"{blob.Digest}\",\"size\":{blob.Size}}},\"layers\":[],"
        + "\"annotations\":{\"" + HolderAnnotation + "\":\"" + holder + "\"}}");

    private static string? Holder(byte[] manifest)
    {
        try
        {
            using var doc = JsonDocument.Parse(manifest);
            return doc.RootElement.TryGetProperty("annotations", out var annotations) && annotations.TryGetProperty(HolderAnnotation, out var holder) ? holder.GetString() : null;
        }
        catch (JsonException)
        {
            // Something else under the lease tag: treated as held, so it is taken over only once stale.
            return null;
        }
    }
}
