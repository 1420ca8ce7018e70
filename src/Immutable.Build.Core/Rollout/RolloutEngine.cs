using System.Globalization;
using Immutable.Build.State;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>
/// Runs strategies against an <see cref="IDeploymentTarget"/>. Every call takes the scope's deploy lock and first
/// converges whatever an earlier, interrupted call left (finishing it forward when it had promoted, rolling it back
/// otherwise, then decommissioning any group no rollout owns), so the journal never needs a separate repair command.
/// </summary>
public sealed partial class RolloutEngine
{
    private readonly IDeploymentTarget _target;
    private readonly RolloutEngineOptions _options;
    private readonly RolloutState _view;

    /// <summary>Creates an engine for one target.</summary>
    public RolloutEngine(IDeploymentTarget target, RolloutEngineOptions options)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.StateDirectory);
        _target = target;
        _options = options;
        _view = new RolloutState(options);
    }

    /// <summary>Where this engine keeps the lock, journal and ledger (a file URL for the state directory, s3://, docker://).</summary>
    public string StateLocation => _view.Location;

    private TimeProvider Time => _options.Time;

    /// <summary>Rolls <paramref name="release"/> out with <paramref name="strategy"/>. A failed gate rolls back and is reported in the result, not thrown (see <see cref="RolloutResult.ThrowIfNotSucceeded"/>).</summary>
    public async Task<RolloutResult> DeployAsync(DeploymentScope scope, ReleaseRef release, RolloutStrategy strategy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(release);
        ArgumentNullException.ThrowIfNull(strategy);
        await _target.PrepareAsync(scope, cancellationToken);
        var store = Store(scope);
        await using var held = await store.LockAsync($"deploy {release.ReleaseId}", _options.LockTimeout, cancellationToken);
        var repairs = await ConvergeAsync(scope, store, cancellationToken);
        return await RunAsync(scope, store, release, strategy, "deploy", repairs, cancellationToken);
    }

    /// <summary>
    /// Redeploys an earlier successful release from the ledger, by its digest (the target fetches the image again from
    /// its source). Without <paramref name="toReleaseId"/> (a release id or digest), the most recent successful release
    /// other than the current one. The strategy defaults to blue-green with the current replica count.
    /// </summary>
    public async Task<RolloutResult> RollbackAsync(DeploymentScope scope, string? toReleaseId = null, RolloutStrategy? strategy = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        await _target.PrepareAsync(scope, cancellationToken);
        var store = Store(scope);
        await using var held = await store.LockAsync($"rollback to {toReleaseId ?? "previous"}", _options.LockTimeout, cancellationToken);
        var repairs = await ConvergeAsync(scope, store, cancellationToken);
        var ledger = (await store.ReadLedgerAsync(cancellationToken));
        var current = ReleaseLedger.LastRollout(ledger);
        var successes = ReleaseLedger.InRolloutOrder(ledger).Where(e => e.IsSuccessfulRollout && e.Release is not null).ToList();
        var pick = toReleaseId is null
            ? successes.LastOrDefault(e => e.Release!.ImageDigest != current?.Current?.ImageDigest)
            : ReleaseLedger.FindRelease(ledger, toReleaseId, successfulOnly: true);
        if (pick is null)
        {
            var known = string.Join(", ", successes.Select(e => e.Release!.ReleaseId).Distinct());
            throw new ImmutableBuildException(
                RolloutErrors.NoRollbackRelease,
                toReleaseId is null
                    ? $"There is no earlier successful release of {scope.App} in {scope.Environment} to roll back to{(known.Length == 0 ? "" : $" (successful: {known})")}. Run `immutable history`."
                    : $"Release '{toReleaseId}' was never rolled out successfully to {scope.App} in {scope.Environment}{(known.Length == 0 ? "" : $"; successful releases: {known}")}. Run `immutable history` and pick one of them.");
        }

        strategy ??= RolloutStrategy.BlueGreen(Math.Max(1, current?.Replicas > 0 ? current.Replicas : pick.Replicas));
        return await RunAsync(scope, store, pick.Release!, strategy, "rollback", repairs, cancellationToken);
    }

    /// <summary>Keeps the current release and the <paramref name="keep"/> most recent other successful releases on the target; removes what the target keeps for the rest.</summary>
    public async Task<PruneResult> PruneAsync(DeploymentScope scope, int keep, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (keep < 0)
        {
            throw RolloutErrors.Value("ImmutableRetain", keep.ToString(CultureInfo.InvariantCulture), "zero or a positive whole number");
        }

        var store = Store(scope);
        await using var held = await store.LockAsync("prune", _options.LockTimeout, cancellationToken);
        await ConvergeAsync(scope, store, cancellationToken);
        var ledger = (await store.ReadLedgerAsync(cancellationToken));
        var current = ReleaseLedger.LastRollout(ledger);
        var byRecency = ReleaseLedger.InRolloutOrder(ledger).Where(e => e.IsSuccessfulRollout).Select(e => e.Release!).Reverse().DistinctBy(r => r.ImageDigest).ToList();
        var kept = new List<ReleaseRef>();
        if (current?.Current is { } c)
        {
            kept.Add(c);
        }

        kept.AddRange(byRecency.Where(r => r.ImageDigest != current?.Current?.ImageDigest).Take(keep));
        var removed = byRecency.Where(r => !kept.Any(k => k.ImageDigest == r.ImageDigest)).ToList();
        await _target.PruneAsync(scope, kept.Select(k => k.ImageDigest).ToList(), cancellationToken);
        await store.AppendLedgerAsync(new LedgerEntry
        {
            Type = "prune",
            RolloutId = current?.RolloutId ?? "",
            Seq = current?.Seq ?? 0,
            StartedAt = Time.GetUtcNow(),
            EndedAt = Time.GetUtcNow(),
            Current = current?.Current,
            CurrentGroups = current?.CurrentGroups ?? [],
            KeptDigests = kept.Select(k => k.ImageDigest).ToList(),
        }, cancellationToken);
        _options.Log.Info($"prune: kept {string.Join(", ", kept.Select(k => k.ReleaseId))}; removed {(removed.Count == 0 ? "nothing" : string.Join(", ", removed.Select(r => r.ReleaseId)))}");
        return new PruneResult(kept, removed);
    }

    /// <summary>The ledger, oldest first.</summary>
    public Task<IReadOnlyList<LedgerEntry>> HistoryAsync(DeploymentScope scope, CancellationToken cancellationToken = default) => _view.HistoryAsync(scope, cancellationToken);

    /// <summary>Who holds the scope's deploy lock; null when nobody does.</summary>
    public Task<LockHolder?> LockStatusAsync(DeploymentScope scope, CancellationToken cancellationToken = default) => _view.LockStatusAsync(scope, cancellationToken);

    /// <summary>Clears the scope's deploy lock whoever holds it, with an audit line in the ledger (see <see cref="RolloutState.ForceReleaseLockAsync"/>).</summary>
    public Task<LockHolder?> ForceReleaseLockAsync(DeploymentScope scope, CancellationToken cancellationToken = default) => _view.ForceReleaseLockAsync(scope, cancellationToken);

    /// <summary>Replaces damaged journal and ledger lines with records that keep their text (see <see cref="RolloutState.RepairAsync"/>).</summary>
    public Task<IReadOnlyList<string>> RepairStateAsync(DeploymentScope scope, CancellationToken cancellationToken = default) => _view.RepairAsync(scope, cancellationToken);

    /// <summary>The scope's folder on this machine: the last report, and with the default file store its journal, ledger and lock.</summary>
    public string ScopeDirectory(DeploymentScope scope) => Path.Combine(Path.GetFullPath(_options.StateDirectory), "rollouts", scope.Key);

    private ScopeStore Store(DeploymentScope scope) => _view.Store(scope);

    private static JournalRecord? FindOpen(List<JournalRecord> journal)
    {
        var begin = journal.LastOrDefault(r => r.Type == JournalKind.Begin);
        return begin is null || journal.Any(r => r.Type == JournalKind.End && r.Rollout == begin.Rollout) ? null : begin;
    }
}
