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

    internal ScopeStore Store(DeploymentScope scope) =>
        new(_state, scope, _options.StateDirectory, RecordOrigin.Current(_options.GetEnvironmentVariable), _options.Time, _options.AfterDurableWrite, _options.Log);
}
