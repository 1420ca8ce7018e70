using System.Text;
using System.Text.Json;

namespace Immutable.Build.State;

/// <summary>How a <see cref="ConditionalStateStore"/> holds its lock and retries its appends.</summary>
public sealed record ConditionalStateOptions
{
    /// <summary>How long a lock lasts without renewal: a holder that died leaves it for at most this long.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How often a waiter looks at the lock again.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Compare-and-swap attempts of one append before IMB6204.</summary>
    public int MaxAppendAttempts { get; init; } = 64;

    /// <summary>Who writes.</summary>
    public RecordOrigin Origin { get; init; } = RecordOrigin.Current();

    /// <summary>The clock of leases and waits.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Where the takeover and lost-lock warnings go.</summary>
    public ReleaseLog Log { get; init; } = ReleaseLog.None;

    /// <summary>
    /// Test hook: a disposed lease stops renewing but is not released, as a killed runner leaves it, so another
    /// runner must wait for its expiry and take it over.
    /// </summary>
    internal bool AbandonOnDispose { get; init; }

    /// <summary>Checks the values; IMB6203 names the bad one.</summary>
    public ConditionalStateOptions Validate()
    {
        if (Lease < TimeSpan.FromSeconds(1) || PollInterval <= TimeSpan.Zero || MaxAppendAttempts < 1)
        {
            throw new ImmutableBuildException(StateErrors.InvalidStateUrl, $"The shared state's lease ({Lease}) must be at least 1s, its poll interval ({PollInterval}) positive and its append attempts ({MaxAppendAttempts}) at least 1.");
        }

        return this;
    }
}

/// <summary>
/// The lock, journal and ledger of every scope on a backend that offers only conditional writes
/// (<see cref="IConditionalObjects"/>): S3, a Docker host. Objects per scope: <c>&lt;key&gt;/lock.json</c>,
/// <c>&lt;key&gt;/journal.jsonl</c>, <c>&lt;key&gt;/ledger.jsonl</c>.
/// </summary>
/// <remarks>
/// An append reads the log and its version, writes it back with the line added only if the version still holds, and
/// on losing the race reads again: no line is lost or reordered, and a read sees every append that returned. The
/// lock is a lease: its holder renews it every third of <see cref="ConditionalStateOptions.Lease"/>; one that stopped
/// renewing (its runner died) is taken over after its expiry, by a conditional write on the version seen, so two
/// takers never both win. A released lock stays as a free object, so taking it is always an update by version.
/// </remarks>
public sealed class ConditionalStateStore : IStateStore
{
    private readonly IConditionalObjects _objects;
    private readonly ConditionalStateOptions _options;

    /// <summary>A store over <paramref name="objects"/>, which it disposes.</summary>
    public ConditionalStateStore(IConditionalObjects objects, ConditionalStateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(objects);
        _objects = objects;
        _options = (options ?? new ConditionalStateOptions()).Validate();
    }

    /// <inheritdoc />
    public string Location => _objects.Location;

    private TimeProvider Time => _options.Time;

    /// <inheritdoc />
    public async Task<IStateLease> AcquireLockAsync(string scopeKey, LockRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var key = LockKey(scopeKey);
        LockHolder? lastSeen = null;
        Lease? lease = null;
        (LockHolder Mine, LockHolder? From)? attempt = null;
        await Wait.UntilAsync(
            async ct =>
            {
                var current = await ReadLockObjectAsync(key, ct);
                var holder = current?.Lock.Holder;
                if (attempt is { } last && holder?.LeaseId == last.Mine.LeaseId)
                {
                    // The last take did land; only its answer was lost (a retried PUT then reads 412). It is ours.
                    lease = new Lease(this, key, holder, current!.Value.Version, last.From);
                    WarnTakeover(scopeKey, last.From);
                    return true;
                }

                lastSeen = holder;
                var now = Time.GetUtcNow();
                if (holder is not null && holder.Expires > now)
                {
                    return false;
                }

                var mine = new LockHolder(_options.Origin, request.Command, now, now + _options.Lease, Guid.NewGuid().ToString("N"));
                attempt = (mine, holder);
                var written = await WriteAsync(key, new LockObject(mine), current?.Version, "take the deploy lock", ct);
                if (written is null)
                {
                    return false;
                }

                WarnTakeover(scopeKey, holder);
                lease = new Lease(this, key, mine, written, holder);
                return true;
            },
            request.Timeout,
            _options.PollInterval,
            Time,
            cancellationToken);
        if (lease is null)
        {
            throw new ImmutableBuildException(
                StateErrors.LockTimeout,
                $"Another rollout holds the deploy lock of {scopeKey} in {Location}{(lastSeen is null ? "" : $": {lastSeen.Describe()}")}; waited {request.Timeout.TotalSeconds:0.#}s. Wait for it to finish and run again; a lock whose holder died lapses at its lease's end, or clear it with `immutable lock release --force`.");
        }

        lease.StartRenewing();
        return lease;
    }

    private void WarnTakeover(string scopeKey, LockHolder? from)
    {
        if (from is not null)
        {
            _options.Log.Warning(StateErrors.StaleLockTakenOver, $"took over the deploy lock of {scopeKey} from {from.Describe()}: it stopped renewing it and its lease passed");
        }
    }

    /// <inheritdoc />
    public async Task<LockHolder?> ReadLockAsync(string scopeKey, CancellationToken cancellationToken) =>
        (await ReadLockObjectAsync(LockKey(scopeKey), cancellationToken))?.Lock.Holder;

    /// <inheritdoc />
    public async Task<LockHolder?> ForceReleaseLockAsync(string scopeKey, CancellationToken cancellationToken)
    {
        var key = LockKey(scopeKey);
        for (var attempt = 0; ; attempt++)
        {
            if (await ReadLockObjectAsync(key, cancellationToken) is not { Lock.Holder: { } holder } current)
            {
                return null;
            }

            var released = new LockObject(null, new LockHolder(_options.Origin, "lock release --force", Time.GetUtcNow(), null, holder.LeaseId));
            if (await WriteAsync(key, released, current.Version, "clear the deploy lock", cancellationToken) is not null)
            {
                return holder;
            }

            if (attempt >= _options.MaxAppendAttempts)
            {
                throw Contention(key);
            }
        }
    }

    /// <inheritdoc />
    public async Task AppendAsync(string scopeKey, StateLog log, ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        var key = LogKey(scopeKey, log);
        byte[]? tried = null;
        for (var attempt = 1; attempt <= _options.MaxAppendAttempts; attempt++)
        {
            var current = await ReadObjectAsync(key, cancellationToken);
            if (tried is not null && current is not null && current.Content.AsSpan().StartsWith(tried))
            {
                // The last write did land and only its answer was lost (a retried PUT then reads 412); writing the
                // line again would record it twice. Logs only grow, so what we wrote is still their beginning.
                return;
            }

            var old = current?.Content ?? [];
            // A log always ends in a newline here (writes are whole objects), so the new line is simply added.
            var content = new byte[old.Length + record.Length + 1];
            old.CopyTo(content, 0);
            record.Span.CopyTo(content.AsSpan(old.Length));
            content[^1] = (byte)'\n';
            tried = content;
            if (await TryWriteAsync(key, content, current?.Version, "append to the " + Name(log), cancellationToken) is not null)
            {
                return;
            }

            // Lost the race: another runner appended first. Back off a little, randomly, so racing writers spread out.
            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 20 + (10 * Math.Min(attempt, 10)))), Time, cancellationToken);
        }

        throw Contention(key);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> ReadAsync(string scopeKey, StateLog log, CancellationToken cancellationToken)
    {
        return Lines(await ReadObjectAsync(LogKey(scopeKey, log), cancellationToken));
    }

    private static List<string> Lines(VersionedObject? log) =>
        log is null ? [] : Encoding.UTF8.GetString(log.Content).Split('\n').Where(l => !string.IsNullOrWhiteSpace(l)).ToList();

    /// <inheritdoc />
    public async Task RewriteAsync(string scopeKey, StateLog log, IReadOnlyList<string> expected, IReadOnlyList<ReadOnlyMemory<byte>> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(records);
        var key = LogKey(scopeKey, log);
        var current = await ReadObjectAsync(key, cancellationToken);
        if (!Lines(current).SequenceEqual(expected, StringComparer.Ordinal))
        {
            throw StateErrors.Raced($"{Location.TrimEnd('/')}/{key}");
        }

        var content = new byte[records.Sum(r => r.Length + 1)];
        var at = 0;
        foreach (var record in records)
        {
            record.Span.CopyTo(content.AsSpan(at));
            at += record.Length;
            content[at++] = (byte)'\n';
        }

        // On the version read: an append that slipped in between makes this write lose, never vanish.
        if (await TryWriteAsync(key, content, current?.Version, "rewrite the " + Name(log), cancellationToken) is null
            && (await ReadObjectAsync(key, cancellationToken))?.Content.AsSpan().SequenceEqual(content) != true)
        {
            // Only a write whose answer was lost (a retried PUT that then reads 412) leaves exactly our content.
            throw StateErrors.Raced($"{Location.TrimEnd('/')}/{key}");
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> ScopesAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<string> keys;
        try
        {
            keys = await _objects.ListAsync("", cancellationToken);
        }
        catch (Exception e) when (IsBackendFailure(e, cancellationToken))
        {
            throw StateErrors.Unavailable(Location, "list the scopes", e);
        }

        return keys.Where(k => k.EndsWith("/journal.jsonl", StringComparison.Ordinal) || k.EndsWith("/ledger.jsonl", StringComparison.Ordinal))
            .Select(k => k[..k.LastIndexOf('/')]).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    /// <inheritdoc />
    public void Dispose() => _objects.Dispose();

    private static string LockKey(string scopeKey) => $"{scopeKey}/lock.json";

    private static string LogKey(string scopeKey, StateLog log) => $"{scopeKey}/{(log == StateLog.Journal ? "journal" : "ledger")}.jsonl";

    private static string Name(StateLog log) => log == StateLog.Journal ? "journal" : "ledger";

    private ImmutableBuildException Contention(string key) =>
        new(StateErrors.AppendContention, $"Writing {key} in {Location} lost the race to other writers {_options.MaxAppendAttempts} times in a row. Run again; if it persists, find what writes there in a loop from the records' origins.");

    private async Task<(LockObject Lock, string Version)?> ReadLockObjectAsync(string key, CancellationToken ct)
    {
        if (await ReadObjectAsync(key, ct) is not { } found)
        {
            return null;
        }

        try
        {
            return (JsonSerializer.Deserialize(found.Content, StateJsonContext.Default.LockObject) ?? new LockObject(null), found.Version);
        }
        catch (JsonException)
        {
            // Not ours to interpret: treat it as free, and replace it by version like any other lock object.
            return (new LockObject(null), found.Version);
        }
    }

    private async Task<string?> WriteAsync(string key, LockObject value, string? expectedVersion, string what, CancellationToken ct)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, StateJsonContext.Default.LockObject);
        return await TryWriteAsync(key, bytes, expectedVersion, what, ct);
    }

    private async Task<VersionedObject?> ReadObjectAsync(string key, CancellationToken ct)
    {
        try
        {
            return await _objects.ReadAsync(key, ct);
        }
        catch (Exception e) when (IsBackendFailure(e, ct))
        {
            throw StateErrors.Unavailable(Location, $"read {key}", e);
        }
    }

    private async Task<string?> TryWriteAsync(string key, byte[] content, string? expectedVersion, string what, CancellationToken ct)
    {
        try
        {
            return await _objects.TryWriteAsync(key, content, expectedVersion, ct);
        }
        catch (Exception e) when (IsBackendFailure(e, ct))
        {
            throw StateErrors.Unavailable(Location, what, e);
        }
    }

    private static bool IsBackendFailure(Exception e, CancellationToken ct) =>
        e is not ImmutableBuildException && !(e is OperationCanceledException && ct.IsCancellationRequested);

    /// <summary>A held shared lock: renewed in the background until disposed, then written back as free.</summary>
    private sealed class Lease(ConditionalStateStore store, string key, LockHolder holder, string version, LockHolder? tookOverFrom) : IStateLease
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly object _gate = new();
        private string? _version = version;
        private LockHolder _holder = holder;
        private Task _renewing = Task.CompletedTask;

        public LockHolder Holder => _holder;

        public LockHolder? TookOverFrom => tookOverFrom;

        public void StartRenewing() => _renewing = Task.Run(RenewLoopAsync);

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            try
            {
                await _renewing;
            }
            catch (OperationCanceledException)
            {
            }

            string? current;
            lock (_gate)
            {
                current = _version;
                _version = null;
            }

            if (current is not null && !store._options.AbandonOnDispose)
            {
                try
                {
                    // Only our own holding is released: if someone took the lock over, its version moved and this does
                    // nothing. A renewal whose answer was lost may have moved the version under us, and a backend may
                    // show that move a moment after it refused our write, so the release looks again a few times.
                    for (var attempt = 0; attempt < 4 && current is not null; attempt++)
                    {
                        if (await store.WriteAsync(key, new LockObject(null), current, "release the deploy lock", CancellationToken.None) is not null)
                        {
                            break;
                        }

                        if (attempt > 0)
                        {
                            // Real time, not the store's clock: a dispose must not hang on a test clock nobody advances.
                            await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt), CancellationToken.None);
                        }

                        current = (await StillOursAsync(CancellationToken.None))?.Version;
                    }
                }
                catch (ImmutableBuildException e)
                {
                    // The lease then lapses on its own; a rollout that finished must not fail over its unlock.
                    store._options.Log.Warning(StateErrors.StoreUnavailable, $"could not release the deploy lock of {key}; it lapses at {_holder.Expires:u}: {e.Message}");
                }
            }

            _stop.Dispose();
        }

        /// <summary>After a conditional write of the lock lost: its version and holder when the holding is still this lease's, else null.</summary>
        private async Task<(string Version, LockHolder Holder)?> StillOursAsync(CancellationToken cancellationToken) =>
            await store.ReadLockObjectAsync(key, cancellationToken) is { Lock.Holder: { } holder } current && holder.LeaseId == _holder.LeaseId
                ? (current.Version, holder)
                : null;

        private async Task RenewLoopAsync()
        {
            var every = store._options.Lease / 3;
            while (!_stop.IsCancellationRequested)
            {
                await Task.Delay(every, store.Time, _stop.Token);
                string? current;
                lock (_gate)
                {
                    current = _version;
                }

                if (current is null)
                {
                    return;
                }

                var renewed = _holder with { Expires = store.Time.GetUtcNow() + store._options.Lease };
                string? next;
                try
                {
                    // Not cut short by the dispose: a write abandoned in flight may still land after the release read the
                    // lock, leaving a holding nobody releases. The dispose waits for this beat instead.
                    next = await store.WriteAsync(key, new LockObject(renewed), current, "renew the deploy lock", CancellationToken.None);
                    if (next is null && await StillOursAsync(CancellationToken.None) is { } ours)
                    {
                        // An earlier renewal landed although its answer was lost, so the version moved under us: the
                        // lock is still ours; renew from the version it has now.
                        (next, renewed) = ours;
                    }
                }
                catch (ImmutableBuildException e)
                {
                    // A store that blinks is retried at the next beat; the lease still has two thirds left.
                    store._options.Log.Detail($"renewing the deploy lock of {key} failed, retrying: {e.Message}");
                    continue;
                }

                lock (_gate)
                {
                    if (_version is null)
                    {
                        return;
                    }

                    _version = next;
                }

                if (next is null)
                {
                    store._options.Log.Warning(StateErrors.LockLost, $"the deploy lock of {key} was cleared or taken over while this rollout held it");
                    return;
                }

                _holder = renewed;
            }
        }
    }
}
