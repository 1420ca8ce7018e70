using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

public sealed partial class RolloutEngine
{
    /// <summary>
    /// Brings the target back to what the journal and ledger promise, under the lock, before any other work:
    /// an unfinished rollout is finished forward when its promote step was journaled as done (the new release
    /// already had all traffic) and rolled back otherwise; then every rollout-made group that is not current is
    /// decommissioned and traffic is pointed at the current groups. Every action here is idempotent, so a crash
    /// during convergence is converged by the next call in the same way.
    /// </summary>
    private async Task<IReadOnlyList<string>> ConvergeAsync(DeploymentScope scope, ScopeStore store, CancellationToken cancellationToken)
    {
        var repairs = new List<string>();
        // Both logs are read before anything is written, so a corrupt line stops the command with nothing changed.
        var journal = await store.ReadJournalAsync(cancellationToken);
        var ledger = await store.ReadLedgerAsync(cancellationToken);
        foreach (var lost in LedgerRecovery.Missing(journal, ledger))
        {
            _options.Log.Warning(State.StateErrors.TornTail, $"converge: the ledger lacks rollout {lost.RolloutId} of {lost.Release?.ReleaseId} ({lost.Outcome}), which the journal shows finished; writing its entry again from the journal");
            await store.AppendLedgerAsync(lost, cancellationToken);
            repairs.Add($"rebuilt the ledger entry of rollout {lost.RolloutId} ({lost.Release?.ReleaseId}, {lost.Outcome}) from the journal");
        }

        if (FindOpen(journal) is { } open)
        {
            var records = journal.Where(r => r.Rollout == open.Rollout).ToList();
            var promoted = records.Any(r => r.Type == JournalKind.Step && r.Step == "promote" && r.Phase == JournalPhase.Done);
            var lastStep = records.LastOrDefault(r => r.Type == JournalKind.Step);
            var previous = open.PreviousGroups ?? [];
            var next = open.NextGroups ?? [];
            var recorded = (await store.ReadLedgerAsync(cancellationToken)).LastOrDefault(e => e.Type == "rollout" && e.RolloutId == open.Rollout);
            var forward = recorded is null ? promoted : recorded.Outcome == RolloutOutcomes.Succeeded;
            string outcome;
            string? reason;
            IReadOnlyList<string> currentGroups;
            if (forward)
            {
                _options.Log.Info($"converge: rollout {open.Rollout} of {open.Release?.ReleaseId} was interrupted after promotion; finishing it");
                var observed = await _target.ObserveAsync(scope, cancellationToken);
                foreach (var group in previous.Where(g => observed.Instances.Any(i => i.Group == g)))
                {
                    await _target.DecommissionAsync(scope, group, _options.Drain, cancellationToken);
                }

                outcome = RolloutOutcomes.Succeeded;
                reason = null;
                currentGroups = next;
                repairs.Add($"finished interrupted rollout {open.Rollout}: decommissioned {(previous.Count == 0 ? "nothing" : string.Join(", ", previous))}");
            }
            else
            {
                var where = lastStep is null ? "before its first step" : $"at step {lastStep.Index + 1} ({lastStep.Step}, {JournalNames.Of(lastStep.Phase)})";
                _options.Log.Warning(RolloutErrors.RolledBack, $"converge: rollout {open.Rollout} of {open.Release?.ReleaseId} was interrupted {where}; rolling it back");
                currentGroups = await RestorePreviousAsync(scope, previous, next, cancellationToken);
                outcome = RolloutOutcomes.RolledBack;
                reason = recorded?.Reason ?? $"interrupted {where}";
                repairs.Add($"rolled back interrupted rollout {open.Rollout} ({reason}): traffic to {(currentGroups.Count == 0 ? "nothing" : string.Join(", ", currentGroups))}, decommissioned {string.Join(", ", next)}");
            }

            var now = Time.GetUtcNow();
            if (recorded is null)
            {
                await store.AppendLedgerAsync(LedgerRecovery.Entry(open, now, outcome, reason, forward, currentGroups), cancellationToken);
            }

            await store.AppendJournalAsync(new JournalRecord { Type = JournalKind.End, Rollout = open.Rollout, Seq = open.Seq, At = now, Outcome = outcome, Reason = reason ?? "converged after an interruption" }, cancellationToken);
        }

        repairs.AddRange(await SweepAsync(scope, ReleaseLedger.LastRollout((await store.ReadLedgerAsync(cancellationToken))), cancellationToken));
        foreach (var r in repairs)
        {
            _options.Log.Detail("converge: " + r);
        }

        return repairs;
    }

    /// <summary>Decommissions rollout-made groups that are not current, and points traffic at the current groups when it does not already.</summary>
    private async Task<IReadOnlyList<string>> SweepAsync(DeploymentScope scope, LedgerEntry? current, CancellationToken cancellationToken)
    {
        var repairs = new List<string>();
        var currentGroups = current?.CurrentGroups ?? [];
        var observed = await _target.ObserveAsync(scope, cancellationToken);
        // Instances no rollout created are drift to report, not ours to destroy.
        var orphans = observed.Instances.Where(i => i.ManagedByRollout && !currentGroups.Contains(i.Group)).Select(i => i.Group).Distinct(StringComparer.Ordinal).ToList();
        foreach (var group in orphans)
        {
            await _target.DecommissionAsync(scope, group, TimeSpan.Zero, cancellationToken);
            repairs.Add($"decommissioned orphan group {group}");
        }

        var alive = currentGroups.Select(g => (g, observed.Instances.Count(i => i.Group == g && InstanceStatus.IsRunning(i.Status)))).Where(p => p.Item2 > 0).ToList();
        if (alive.Count > 0)
        {
            var wanted = Traffic.Split(100, alive);
            var routed = observed.WeightsByGroup.Where(w => w.Value > 0).ToDictionary(w => w.Key, w => w.Value, StringComparer.Ordinal);
            if (routed.Count != wanted.Count || routed.Any(w => !wanted.TryGetValue(w.Key, out var v) || v != w.Value))
            {
                await _target.RouteAsync(scope, wanted, cancellationToken);
                repairs.Add($"routed traffic to {Traffic.Describe(wanted)}");
            }
        }

        return repairs;
    }

    /// <summary>Routes all traffic to the previous groups still running (none: no traffic at all) and decommissions the new ones. Idempotent.</summary>
    private async Task<IReadOnlyList<string>> RestorePreviousAsync(DeploymentScope scope, IReadOnlyList<string> previous, IReadOnlyList<string> next, CancellationToken cancellationToken)
    {
        var observed = await _target.ObserveAsync(scope, cancellationToken);
        var alive = previous.Select(g => (g, observed.Instances.Count(i => i.Group == g && InstanceStatus.IsRunning(i.Status)))).Where(p => p.Item2 > 0).ToList();
        var weights = Traffic.Split(100, alive);
        _options.Log.Info($"rollback: traffic to {Traffic.Describe(weights)}; decommission {string.Join(", ", next)}");

        // Every part is tried even when one fails (a host of several that is unreachable): what can be rolled back
        // is, and the rest is converged by the next call once the host answers again.
        var failures = new List<Exception>();
        async Task TryAsync(Func<Task> action)
        {
            try
            {
                await action();
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                failures.Add(e);
            }
        }

        await TryAsync(() => _target.RouteAsync(scope, weights, cancellationToken));
        foreach (var group in next.Where(g => observed.Instances.Any(i => i.Group == g) || observed.Unreachable.Count > 0))
        {
            await TryAsync(() => _target.DecommissionAsync(scope, group, TimeSpan.Zero, cancellationToken));
        }

        if (failures.Count == 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failures[0]).Throw();
        }
        else if (failures.Count > 1)
        {
            throw new AggregateException(string.Join("; ", failures.Select(f => f.Message).Distinct()), failures);
        }

        return alive.Select(a => a.g).ToList();
    }
}
