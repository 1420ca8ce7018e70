using Immutable.Build.State;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>
/// A scope's history and lock without a target: what `immutable history` and `immutable lock` read and clear, so
/// they need no connection to where the app runs.
/// </summary>
public sealed class RolloutState
{
    private readonly RolloutEngineOptions _options;
    private readonly IStateStore _state;

    /// <summary>The state of <paramref name="options"/>' store (its state directory's files when it names none).</summary>
    public RolloutState(RolloutEngineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.StateDirectory);
        _options = options;
        _state = options.StateStore ?? new FileStateStore(options.StateDirectory, options.Time, RecordOrigin.Current(options.GetEnvironmentVariable));
    }

    /// <summary>Where the lock, journal and ledger live.</summary>
    public string Location => _state.Location;

    /// <summary>The ledger, oldest first.</summary>
    public async Task<IReadOnlyList<LedgerEntry>> HistoryAsync(DeploymentScope scope, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        return await Store(scope).ReadHistoryAsync(cancellationToken);
    }

    /// <summary>Who holds the scope's deploy lock; null when nobody does.</summary>
    public Task<LockHolder?> LockStatusAsync(DeploymentScope scope, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        return _state.ReadLockAsync(scope.Key, cancellationToken);
    }

    /// <summary>
    /// Clears the scope's deploy lock whoever holds it (an operator's decision that its holder is gone) and records
    /// who did it in the ledger. Returns the holder it cleared; null when the lock was free.
    /// </summary>
    public async Task<LockHolder?> ForceReleaseLockAsync(DeploymentScope scope, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var store = Store(scope);
        var cleared = await _state.ForceReleaseLockAsync(scope.Key, cancellationToken);
        if (cleared is not null)
        {
            await store.AppendLedgerAsync(store.LockAudit("lock-release", $"forced release of the deploy lock held by {cleared.Describe()}"), cancellationToken);
            _options.Log.Info($"lock of {scope.App}/{scope.Environment}: cleared the lock of {cleared.Describe()}");
        }

        return cleared;
    }

    /// <summary>
    /// `immutable state repair`: under the deploy lock, replaces each damaged line of the scope's journal and ledger
    /// with a record that keeps its text, writes back the ledger entries the journal proves finished, and records the
    /// repair in the ledger. Returns what it did; empty when both logs were whole.
    /// </summary>
    public async Task<IReadOnlyList<string>> RepairAsync(DeploymentScope scope, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var store = Store(scope);
        await using var lease = await store.LockAsync("state repair", _options.LockTimeout, cancellationToken);
        var done = new List<string>();
        foreach (var line in await store.ReplaceDamagedLinesAsync(cancellationToken))
        {
            done.Add($"replaced {line}");
        }

        // A fresh view of the logs: the replaced lines now read as notes.
        store = Store(scope);
        var journal = await store.ReadJournalAsync(cancellationToken);
        var ledger = await store.ReadLedgerAsync(cancellationToken);
        foreach (var lost in LedgerRecovery.Missing(journal, ledger))
        {
            await store.AppendLedgerAsync(lost, cancellationToken);
            done.Add($"rebuilt the ledger entry of rollout {lost.RolloutId} ({lost.Release?.ReleaseId}, {lost.Outcome}) from the journal");
        }

        if (done.Count > 0)
        {
            await store.AppendLedgerAsync(store.LockAudit("state-repair", string.Join("; ", done)), cancellationToken);
            foreach (var line in done)
            {
                _options.Log.Info($"state repair of {scope.App}/{scope.Environment}: {line}");
            }
        }

        return done;
    }

    internal ScopeStore Store(DeploymentScope scope) =>
        new(_state, scope, _options.StateDirectory, RecordOrigin.Current(_options.GetEnvironmentVariable), _options.Time, _options.AfterDurableWrite, _options.Log);
}
