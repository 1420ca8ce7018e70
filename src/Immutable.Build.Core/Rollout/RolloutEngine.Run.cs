using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

public sealed partial class RolloutEngine
{
    private async Task<RolloutResult> RunAsync(DeploymentScope scope, ScopeStore store, ReleaseRef release, RolloutStrategy strategy, string trigger, IReadOnlyList<string> repairs, CancellationToken cancellationToken)
    {
        var started = Time.GetUtcNow();
        var current = ReleaseLedger.LastRollout((await store.ReadLedgerAsync(cancellationToken)));
        var observed = await _target.ObserveAsync(scope, cancellationToken);
        var seq = Math.Max((await store.ReadJournalAsync(cancellationToken)).Select(r => r.Seq).DefaultIfEmpty(0).Max(), current?.Seq ?? 0) + 1;
        var run = new RolloutRun(scope, release, strategy, $"{scope.Key}-{seq}", seq)
        {
            PreviousRelease = current?.Current,
            // Only groups that still have instances: routing back to a group that died would send traffic nowhere.
            Previous = (current?.CurrentGroups ?? []).Where(g => observed.Instances.Any(i => i.Group == g)).ToList(),
        };
        run.NextGroups.AddRange(strategy.Steps.OfType<LaunchStep>().Select(l => run.GroupName(l.Batch)).Distinct());
        await store.AppendJournalAsync(new JournalRecord
        {
            Type = JournalKind.Begin,
            Rollout = run.Id,
            Seq = seq,
            At = started,
            Release = release,
            Strategy = Kind(strategy.Kind),
            Trigger = trigger,
            Replicas = strategy.Replicas,
            Steps = strategy.Steps.Count,
            PreviousRelease = run.PreviousRelease,
            PreviousGroups = [.. run.Previous],
            NextGroups = [.. run.NextGroups],
        }, cancellationToken);
        _options.Log.Info($"{trigger} {release.ReleaseId} ({release.ImageDigest}) to {scope.App}/{scope.Environment} on {_target.Name}: {Kind(strategy.Kind)}, {strategy.Replicas} replica(s), replacing {(run.PreviousRelease is null ? "nothing" : $"{run.PreviousRelease.ReleaseId} ({string.Join(", ", run.Previous)})")}");

        string? failure = null;
        for (var i = 0; i < strategy.Steps.Count && failure is null; i++)
        {
            var step = strategy.Steps[i];
            var stepStart = Time.GetUtcNow();
            await store.AppendJournalAsync(new JournalRecord { Type = JournalKind.Step, Rollout = run.Id, Seq = seq, At = stepStart, Index = i, Phase = JournalPhase.Start, Step = step.Name }, cancellationToken);
            string description;
            try
            {
                description = await StepExecutors.ExecuteAsync(new StepContext(run, _target, _options, step, i), step, cancellationToken);
            }
            catch (StepFailedException e)
            {
                description = e.Description;
                failure = e.Message;
            }
            catch (Exception e) when (!(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                // A target failure mid-step is handled like a failed gate: the previous release takes the traffic back.
                description = run.LastDescription ?? step.Name;
                failure = $"{step.Name} failed on {_target.Name}: {(e is ImmutableBuildException ib ? ib.ToString() : e.Message)}";
            }

            var duration = Time.GetUtcNow() - stepStart;
            run.Steps.Add(new StepRecord(i + 1, step.Name, description, stepStart, duration, failure is null, failure));
            await store.AppendJournalAsync(new JournalRecord
            {
                Type = JournalKind.Step,
                Rollout = run.Id,
                Seq = seq,
                At = Time.GetUtcNow(),
                Index = i,
                Phase = failure is null ? JournalPhase.Done : JournalPhase.Failed,
                Step = step.Name,
                Detail = failure ?? description,
                Weights = step is ShiftTrafficStep or RetirePreviousStep ? new(run.Weights) : null,
            }, cancellationToken);
        }

        string outcome;
        var reason = failure;
        ReleaseRef? nowCurrent;
        IReadOnlyList<string> currentGroups;
        if (failure is null)
        {
            outcome = RolloutOutcomes.Succeeded;
            nowCurrent = release;
            currentGroups = run.NextGroups;
        }
        else
        {
            _options.Log.Warning(RolloutErrors.RolledBack, $"rollout {run.Id} of {release.ReleaseId} failed: {Sentence.Open(failure)}; rolling back");
            await store.AppendJournalAsync(new JournalRecord { Type = JournalKind.Rollback, Rollout = run.Id, Seq = seq, At = Time.GetUtcNow(), Phase = JournalPhase.Start, Reason = failure }, cancellationToken);
            nowCurrent = run.PreviousRelease;
            try
            {
                currentGroups = await RestorePreviousAsync(scope, run.Previous, run.NextGroups, cancellationToken);
                outcome = RolloutOutcomes.RolledBack;
                await store.AppendJournalAsync(new JournalRecord { Type = JournalKind.Rollback, Rollout = run.Id, Seq = seq, At = Time.GetUtcNow(), Phase = JournalPhase.Done }, cancellationToken);
            }
            catch (Exception e) when (!(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                outcome = RolloutOutcomes.Failed;
                reason = $"{Sentence.Open(failure)}; rolling back failed too: {e.Message}";
                currentGroups = run.Previous;
            }
        }

        var ended = Time.GetUtcNow();
        // Ledger before the journal's end line: a crash between the two is finished by convergence without a duplicate entry.
        await store.AppendLedgerAsync(new LedgerEntry
        {
            RolloutId = run.Id,
            Seq = seq,
            Trigger = trigger,
            Release = release,
            Strategy = Kind(strategy.Kind),
            Replicas = strategy.Replicas,
            StartedAt = started,
            EndedAt = ended,
            Outcome = outcome,
            Reason = reason,
            Current = nowCurrent,
            CurrentGroups = currentGroups,
        }, cancellationToken);
        await store.AppendJournalAsync(new JournalRecord { Type = JournalKind.End, Rollout = run.Id, Seq = seq, At = ended, Outcome = outcome, Reason = reason }, cancellationToken);
        _options.Log.Info($"rollout {run.Id}: {outcome}{(reason is null ? "" : $" ({Sentence.Open(reason)})")}; current release: {nowCurrent?.ReleaseId ?? "none"}");
        if (outcome == RolloutOutcomes.Succeeded)
        {
            await DescribeAsync(scope, cancellationToken);
        }

        var result = new RolloutResult
        {
            RolloutId = run.Id,
            Scope = scope,
            Release = release,
            PreviousRelease = run.PreviousRelease,
            Trigger = trigger,
            Strategy = strategy.Kind,
            Outcome = outcome,
            Reason = reason,
            Groups = run.NextGroups,
            Steps = run.Steps,
            Gates = run.Gates,
            Repairs = repairs,
            StartedAt = started,
            Duration = ended - started,
        };
        result = result with { Report = RolloutReport.Render(result, _target.Name) };
        WriteReport(store, result.Report);
        return result;
    }

    /// <summary>Where the release answers and logs, at the level users read; the rollout is done, so a failure here only goes to the details.</summary>
    private async Task DescribeAsync(DeploymentScope scope, CancellationToken cancellationToken)
    {
        try
        {
            foreach (var line in await _target.DescribeAsync(scope, cancellationToken))
            {
                _options.Log.Info(line);
            }
        }
        catch (Exception e) when (!(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            _options.Log.Detail($"could not tell where {scope.App} in {scope.Environment} answers: {e.Message}");
        }
    }

    private static string Kind(RolloutKind kind) => kind switch
    {
        RolloutKind.BlueGreen => "bluegreen",
        RolloutKind.Canary => "canary",
        _ => "rolling",
    };

    private void WriteReport(ScopeStore store, string report)
    {
        try
        {
            store.EnsureReportDirectory();
            AtomicFile.WriteAllText(store.ReportPath, report);
            if (_options.GetEnvironmentVariable("GITHUB_STEP_SUMMARY") is { Length: > 0 } summary)
            {
                File.AppendAllText(summary, report + "\n");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The rollout is done and recorded; a summary that cannot be written must not turn it into a failure.
            _options.Log.Warning(State.StateErrors.StateDirectoryUnusable, $"could not write the rollout report: {e.Message}");
        }
    }
}
