using Immutable.Build.State;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

public sealed partial class RolloutEngine
{
    /// <summary>
    /// What should run (the ledger) against what runs (the target). With <paramref name="repair"/>, first takes the lock
    /// and converges an interrupted rollout and orphan groups, as any deploy would.
    /// </summary>
    public async Task<RolloutStatus> StatusAsync(DeploymentScope scope, bool repair = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var store = Store(scope);
        IReadOnlyList<string> repairs = [];
        IStateLease? held = null;
        try
        {
            if (repair)
            {
                held = await store.LockAsync("status --repair", _options.LockTimeout, cancellationToken);
                repairs = [.. await ConvergeAsync(scope, store, cancellationToken), .. await RelaunchIfUnservedAsync(scope, store, cancellationToken)];
            }

            var ledger = await store.ReadHistoryAsync(cancellationToken);
            var current = ReleaseLedger.LastRollout(ledger);
            var open = FindOpen(await store.ReadJournalAsync(cancellationToken));
            var state = await _target.ObserveAsync(scope, cancellationToken);
            var currentGroups = current?.CurrentGroups ?? [];
            var groups = state.Instances.GroupBy(i => i.Group, StringComparer.Ordinal)
                .Select(g => new GroupStatus(g.Key, g.First().ReleaseId, state.WeightsByGroup.GetValueOrDefault(g.Key), g.ToList(), currentGroups.Contains(g.Key)))
                .OrderByDescending(g => g.IsCurrent).ThenBy(g => g.Group, StringComparer.Ordinal).ToList();
            var drift = new List<DriftItem>();
            foreach (var i in state.Instances)
            {
                if (!i.ManagedByRollout)
                {
                    drift.Add(new DriftItem(i.Id, i.Group, "not created by a rollout"));
                }
                else if (current?.Current is null)
                {
                    drift.Add(new DriftItem(i.Id, i.Group, "runs although the ledger has no current release"));
                }
                else if (i.ImageDigest != current.Current.ImageDigest)
                {
                    drift.Add(new DriftItem(i.Id, i.Group, $"runs {i.ImageDigest} ({i.ReleaseId}), desired {current.Current.ImageDigest} ({current.Current.ReleaseId})"));
                }
                else if (!currentGroups.Contains(i.Group))
                {
                    drift.Add(new DriftItem(i.Id, i.Group, $"group {i.Group} belongs to no finished rollout"));
                }
            }

            foreach (var host in state.Unreachable)
            {
                drift.Add(new DriftItem("", "", $"not observed: {host}"));
            }

            foreach (var g in currentGroups.Where(g => !state.Instances.Any(i => i.Group == g && InstanceStatus.IsRunning(i.Status))))
            {
                drift.Add(new DriftItem("", g, $"current group {g} has no running instance"));
            }

            // Also when the ledger names no current group (a rollback converged after every instance had died):
            // a current release that nothing serves is never "in sync".
            if (current?.Current is { } desired && !Serves(state, desired, currentGroups))
            {
                drift.Add(new DriftItem("", "", $"nothing serves {desired.ReleaseId}: no running instance of {desired.ImageDigest} in a current group; `immutable status --repair` relaunches it"));
            }

            return new RolloutStatus
            {
                Scope = scope,
                Target = _target.Name,
                Current = current?.Current,
                Groups = groups,
                Weights = state.WeightsByGroup,
                Drift = drift,
                Interrupted = open is null ? null : $"rollout {open.Rollout} of {open.Release?.ReleaseId} did not finish; the next deploy, rollback or status --repair converges it",
                Repairs = repairs,
                History = ledger,
                StateLocation = store.State.Location,
            };
        }
        finally
        {
            if (held is not null)
            {
                await held.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// After convergence, relaunches the ledger's current release when no running instance serves it (its instances
    /// died, or a restarted local host reaped them as orphans): a rollout of that release, trigger "repair", with the
    /// replica count it was rolled out with and the engine's gates.
    /// </summary>
    private async Task<IReadOnlyList<string>> RelaunchIfUnservedAsync(DeploymentScope scope, ScopeStore store, CancellationToken cancellationToken)
    {
        var current = ReleaseLedger.LastRollout((await store.ReadLedgerAsync(cancellationToken)));
        if (current?.Current is not { } desired)
        {
            return [];
        }

        var state = await _target.ObserveAsync(scope, cancellationToken);
        if (Serves(state, desired, current.CurrentGroups))
        {
            return [];
        }

        var replicas = Math.Max(1, current.Replicas);
        _options.Log.Info($"repair: nothing serves the current release {desired.ReleaseId}; relaunching it ({replicas} replica(s))");
        var result = await RunAsync(scope, store, desired, RolloutStrategy.BlueGreen(replicas), "repair", [], cancellationToken);
        return [$"relaunched {desired.ReleaseId} (rollout {result.RolloutId}): {result.Outcome}{(result.Reason is null ? "" : $", {result.Reason}")}"];
    }

    private static bool Serves(TargetState state, ReleaseRef release, IReadOnlyList<string> currentGroups) =>
        state.Instances.Any(i => i.ImageDigest == release.ImageDigest && currentGroups.Contains(i.Group) && InstanceStatus.IsRunning(i.Status));
}
