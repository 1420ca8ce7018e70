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
        DeployLock? held = null;
        try
        {
            if (repair)
            {
                held = await DeployLock.AcquireAsync(store.Directory, "status --repair", _options.LockTimeout, Time, cancellationToken);
                repairs = await ConvergeAsync(scope, store, cancellationToken);
            }

            var ledger = store.ReadLedger();
            var current = ReleaseLedger.LastRollout(ledger);
            var open = FindOpen(store.ReadJournal());
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
            };
        }
        finally
        {
            held?.Dispose();
        }
    }
}
