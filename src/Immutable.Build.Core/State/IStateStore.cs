namespace Immutable.Build.State;

/// <summary>The two append-only logs a scope keeps.</summary>
public enum StateLog
{
    /// <summary>journal.jsonl: every step of every rollout, written before and after it runs.</summary>
    Journal,

    /// <summary>ledger.jsonl: one line per finished rollout, prune or lock audit.</summary>
    Ledger,
}

/// <summary>
/// Where the engine keeps a scope's deploy lock, journal and ledger: the port. The file store (a folder on the
/// machine that runs the command) is the default; shared stores (S3, a Docker host) let every runner of a team see
/// one lock and one history. Records are opaque lines here: the engine owns their shape.
/// </summary>
/// <remarks>
/// Semantics every store gives: exactly one holder of a scope's lock at a time; an append is never lost or
/// reordered when writers race; a read returns every append that returned before it started.
/// </remarks>
public interface IStateStore : IDisposable
{
    /// <summary>Where the state lives, for status and history, e.g. <c>file:///home/me/.local/state/immutable-build</c> or <c>s3://bucket/prefix</c>.</summary>
    string Location { get; }

    /// <summary>
    /// Takes the scope's lock, waiting up to <see cref="LockRequest.Timeout"/> for its holder to let go (IMB6004
    /// naming the holder when it does not). A lock whose holder stopped renewing it and whose expiry passed is taken
    /// over; the lease says from whom.
    /// </summary>
    Task<IStateLease> AcquireLockAsync(string scopeKey, LockRequest request, CancellationToken cancellationToken);

    /// <summary>Who holds the scope's lock now; null when nobody does.</summary>
    Task<LockHolder?> ReadLockAsync(string scopeKey, CancellationToken cancellationToken);

    /// <summary>Clears the scope's lock whoever holds it (an operator's `lock release --force`); returns the holder it cleared, null when it was free.</summary>
    Task<LockHolder?> ForceReleaseLockAsync(string scopeKey, CancellationToken cancellationToken);

    /// <summary>Appends one record (a single line of UTF-8 JSON, without its newline) durably before returning.</summary>
    Task AppendAsync(string scopeKey, StateLog log, ReadOnlyMemory<byte> record, CancellationToken cancellationToken);

    /// <summary>Every record of the log, oldest first. A line torn by a crash mid-append is returned as it is; the reader decides.</summary>
    Task<IReadOnlyList<string>> ReadAsync(string scopeKey, StateLog log, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the whole log with <paramref name="records"/>, only if it still reads as <paramref name="expected"/>
    /// (IMB6211 otherwise), atomically: a reader sees the old log or the new one. Only `immutable state repair` does
    /// this, under the scope's lock, to put a record that keeps a damaged line's text in that line's place.
    /// </summary>
    Task RewriteAsync(string scopeKey, StateLog log, IReadOnlyList<string> expected, IReadOnlyList<ReadOnlyMemory<byte>> records, CancellationToken cancellationToken);

    /// <summary>The scope keys that have state here (for `state migrate`).</summary>
    Task<IReadOnlyList<string>> ScopesAsync(CancellationToken cancellationToken);
}

/// <summary>What a lock is wanted for and how long to wait for it.</summary>
/// <param name="Command">What the holder does, e.g. <c>deploy 1.4.0+abc</c>; shown to whoever waits.</param>
/// <param name="Timeout">How long to wait for another holder.</param>
public sealed record LockRequest(string Command, TimeSpan Timeout);

/// <summary>A held lock. Disposing it lets go.</summary>
public interface IStateLease : IAsyncDisposable
{
    /// <summary>This holder, as others see it.</summary>
    LockHolder Holder { get; }

    /// <summary>The holder whose expired lock this lease took over; null when the lock was free.</summary>
    LockHolder? TookOverFrom { get; }
}
