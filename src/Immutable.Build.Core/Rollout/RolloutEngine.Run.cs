using System.Globalization;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

public sealed partial class RolloutEngine
{
    private async Task<RolloutResult> RunAsync(DeploymentScope scope, ScopeStore store, ReleaseRef release, RolloutStrategy strategy, string trigger, IReadOnlyList<string> repairs, CancellationToken cancellationToken)
    {
        var started = Time.GetUtcNow();
        var current = LastRollout(store.ReadLedger());
        var observed = await _target.ObserveAsync(scope, cancellationToken);
        var seq = Math.Max(store.ReadJournal().Select(r => r.Seq).DefaultIfEmpty(0).Max(), current?.Seq ?? 0) + 1;
        var run = new Run(scope, release, strategy, $"{scope.Key}-{seq}", seq)
        {
            PreviousRelease = current?.Current,
            // Only groups that still have instances: routing back to a group that died would send traffic nowhere.
            Previous = (current?.CurrentGroups ?? []).Where(g => observed.Instances.Any(i => i.Group == g)).ToList(),
        };
        run.NextGroups.AddRange(strategy.Steps.OfType<LaunchStep>().Select(l => GroupName(seq, release.ReleaseId, l.Batch)).Distinct());
        store.AppendJournal(new JournalRecord
        {
            Type = "begin",
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
        });
        _options.Log.Info($"{trigger} {release.ReleaseId} ({release.ImageDigest}) to {scope.App}/{scope.Environment} on {_target.Name}: {Kind(strategy.Kind)}, {strategy.Replicas} replica(s), replacing {(run.PreviousRelease is null ? "nothing" : $"{run.PreviousRelease.ReleaseId} ({string.Join(", ", run.Previous)})")}");

        string? failure = null;
        for (var i = 0; i < strategy.Steps.Count && failure is null; i++)
        {
            var step = strategy.Steps[i];
            var stepStart = Time.GetUtcNow();
            store.AppendJournal(new JournalRecord { Type = "step", Rollout = run.Id, Seq = seq, At = stepStart, Index = i, Phase = "start", Step = step.Name });
            string description;
            try
            {
                description = await ExecuteAsync(run, step, i, cancellationToken);
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
            store.AppendJournal(new JournalRecord
            {
                Type = "step",
                Rollout = run.Id,
                Seq = seq,
                At = Time.GetUtcNow(),
                Index = i,
                Phase = failure is null ? "done" : "failed",
                Step = step.Name,
                Detail = failure ?? description,
                Weights = step is ShiftTrafficStep or RetirePreviousStep ? new(run.Weights) : null,
            });
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
            _options.Log.Warning(RolloutErrors.RolledBack, $"rollout {run.Id} of {release.ReleaseId} failed: {failure}; rolling back");
            store.AppendJournal(new JournalRecord { Type = "rollback", Rollout = run.Id, Seq = seq, At = Time.GetUtcNow(), Phase = "start", Reason = failure });
            nowCurrent = run.PreviousRelease;
            try
            {
                currentGroups = await RestorePreviousAsync(scope, run.Previous, run.NextGroups, cancellationToken);
                outcome = RolloutOutcomes.RolledBack;
                store.AppendJournal(new JournalRecord { Type = "rollback", Rollout = run.Id, Seq = seq, At = Time.GetUtcNow(), Phase = "done" });
            }
            catch (Exception e) when (!(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                outcome = RolloutOutcomes.Failed;
                reason = $"{failure}; rolling back failed too: {e.Message}";
                currentGroups = run.Previous;
            }
        }

        var ended = Time.GetUtcNow();
        // Ledger before the journal's end line: a crash between the two is finished by convergence without a duplicate entry.
        store.AppendLedger(new LedgerEntry
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
        });
        store.AppendJournal(new JournalRecord { Type = "end", Rollout = run.Id, Seq = seq, At = ended, Outcome = outcome, Reason = reason });
        _options.Log.Info($"rollout {run.Id}: {outcome}{(reason is null ? "" : $" ({reason})")}; current release: {nowCurrent?.ReleaseId ?? "none"}");

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

    private async Task<string> ExecuteAsync(Run run, RolloutStep step, int index, CancellationToken cancellationToken)
    {
        var prefix = string.Create(CultureInfo.InvariantCulture, $"step {index + 1}/{run.Strategy.Steps.Count} {step.Name}");
        void Say(string description)
        {
            run.LastDescription = description;
            _options.Log.Info($"{prefix}: {description}");
        }

        switch (step)
        {
            case LaunchStep launch:
            {
                var group = GroupName(run.Seq, run.Release.ReleaseId, launch.Batch);
                Say($"{group} x{launch.Replicas} ({run.Release.ReleaseId})");
                run.Launched[group] = launch.Replicas;
                var instances = await _target.LaunchAsync(new LaunchRequest(run.Scope, run.Release, group, launch.Replicas, _options.InstanceEnvironment), cancellationToken);
                return $"{group} x{launch.Replicas}: {string.Join(", ", instances.Take(5).Select(i => i.Id))}{(instances.Count > 5 ? ", ..." : "")}";
            }

            case WaitHealthyStep wait:
            {
                var group = GroupName(run.Seq, run.Release.ReleaseId, wait.Batch);
                Say(group);
                var instances = await WaitRunningAsync(run, group, cancellationToken);
                foreach (var gate in _options.HealthGates)
                {
                    var result = await EvaluateAsync(run, gate, group, instances, TimeSpan.Zero, cancellationToken);
                    if (!result.Passed)
                    {
                        throw new StepFailedException($"health gate '{gate.Name}' failed on {group}: {result.Detail}", group);
                    }
                }

                return $"{group}: {instances.Count} running{(_options.HealthGates.Count == 0 ? "" : $", {_options.HealthGates.Count} gate(s) passed")}";
            }

            case ShiftTrafficStep shift:
            {
                var observed = await _target.ObserveAsync(run.Scope, cancellationToken);
                var weights = Weights(run, shift.NextPercent, run.Previous, observed);
                var description = Describe(weights);
                Say(description);
                await _target.RouteAsync(run.Scope, weights, cancellationToken);
                run.Weights = weights;
                return description;
            }

            case AnalyseStep analyse:
            {
                if (_options.AnalysisGates.Count == 0)
                {
                    Say("no analysis gates");
                    return "no analysis gates";
                }

                Say($"{string.Join(", ", _options.AnalysisGates.Select(g => g.Name))} over {analyse.Window.TotalSeconds:0.#}s");
                var instances = (await _target.ObserveAsync(run.Scope, cancellationToken)).Instances.Where(i => run.Launched.ContainsKey(i.Group)).ToList();
                var results = await Task.WhenAll(_options.AnalysisGates.Select(g => EvaluateAsync(run, g, run.BaseGroup, instances, analyse.Window, cancellationToken)));
                var failed = results.FirstOrDefault(r => !r.Passed);
                if (failed is not null)
                {
                    throw new StepFailedException($"analysis gate '{failed.Gate}' {(failed.Verdict == GateVerdict.Inconclusive ? "was inconclusive" : "failed")}: {failed.Detail}", $"{run.BaseGroup} at {Describe(run.Weights)}");
                }

                return string.Join("; ", results.Select(r => $"{r.Gate}: {r.Detail}"));
            }

            case PauseStep pause:
                Say($"{pause.Duration.TotalSeconds:0.#}s");
                await Task.Delay(pause.Duration, Time, cancellationToken);
                return $"{pause.Duration.TotalSeconds:0.#}s";

            case PromoteStep:
            {
                var description = $"{run.Release.ReleaseId} is the current release ({string.Join(", ", run.NextGroups)})";
                Say(description);
                return description;
            }

            case DecommissionStep decommission:
            {
                var groups = decommission.Group == GroupRole.Previous ? run.Previous.ToList() : run.NextGroups.ToList();
                var description = groups.Count == 0 ? "nothing to decommission" : $"{string.Join(", ", groups)}{(decommission.Delay > TimeSpan.Zero ? $" after {decommission.Delay.TotalSeconds:0.#}s" : "")}";
                Say(description);
                if (groups.Count > 0 && decommission.Delay > TimeSpan.Zero)
                {
                    await Task.Delay(decommission.Delay, Time, cancellationToken);
                }

                foreach (var group in groups)
                {
                    await _target.DecommissionAsync(run.Scope, group, _options.Drain, cancellationToken);
                    run.Previous.Remove(group);
                }

                return description;
            }

            case RetirePreviousStep retire:
            {
                var observed = await _target.ObserveAsync(run.Scope, cancellationToken);
                var retiring = new List<string>();
                var covered = 0;
                foreach (var group in run.Previous)
                {
                    var size = observed.Instances.Count(i => i.Group == group);
                    if (covered + size > retire.CoveredReplicas)
                    {
                        break;
                    }

                    covered += size;
                    retiring.Add(group);
                }

                if (retiring.Count == 0)
                {
                    Say("no previous group is covered yet");
                    return "no previous group is covered yet";
                }

                var remaining = run.Previous.Except(retiring).ToList();
                var weights = Weights(run, run.Weights.Where(w => run.Launched.ContainsKey(w.Key)).Sum(w => w.Value), remaining, observed);
                var description = $"{string.Join(", ", retiring)}; traffic {Describe(weights)}";
                Say(description);
                await _target.RouteAsync(run.Scope, weights, cancellationToken);
                run.Weights = weights;
                foreach (var group in retiring)
                {
                    await _target.DecommissionAsync(run.Scope, group, _options.Drain, cancellationToken);
                    run.Previous.Remove(group);
                }

                return description;
            }

            default:
                throw new NotSupportedException($"step {step.GetType().Name} is not known to this engine");
        }
    }

    private async Task<IReadOnlyList<InstanceInfo>> WaitRunningAsync(Run run, string group, CancellationToken cancellationToken)
    {
        var expected = run.Launched.GetValueOrDefault(group);
        var deadline = Time.GetUtcNow() + _options.StartTimeout;
        while (true)
        {
            var observed = await _target.ObserveAsync(run.Scope, cancellationToken);
            if (observed.Unreachable.Count > 0)
            {
                throw new StepFailedException($"{group}: {string.Join("; ", observed.Unreachable)}", group);
            }

            var instances = observed.Instances.Where(i => i.Group == group).ToList();
            if (instances.FirstOrDefault(i => IsDead(i.Status)) is { } dead)
            {
                throw new StepFailedException($"instance {dead.Id} of {group} is {dead.Status}", group);
            }

            if (instances.Count >= expected && instances.All(i => IsRunning(i.Status)))
            {
                return instances;
            }

            if (Time.GetUtcNow() >= deadline)
            {
                var statuses = string.Join(", ", instances.GroupBy(i => i.Status).Select(g => $"{g.Count()} {g.Key}"));
                throw new StepFailedException($"{group}: {instances.Count(i => IsRunning(i.Status))}/{expected} instance(s) running after {_options.StartTimeout.TotalSeconds:0.#}s ({(statuses.Length == 0 ? "none observed" : statuses)})", group);
            }

            await Task.Delay(_options.PollInterval, Time, cancellationToken);
        }
    }

    private async Task<GateResult> EvaluateAsync(Run run, IRolloutGate gate, string group, IReadOnlyList<InstanceInfo> instances, TimeSpan window, CancellationToken cancellationToken)
    {
        var start = Time.GetUtcNow();
        var result = await gate.EvaluateAsync(new GateContext(run.Scope, run.Release, group, instances, window, Time), cancellationToken);
        result = result with { Group = group, StartedAt = start, Duration = Time.GetUtcNow() - start };
        lock (run.Gates)
        {
            run.Gates.Add(result);
        }

        _options.Log.Detail($"  gate {result.Gate} on {group}: {result.Verdict.ToString().ToLowerInvariant()}: {result.Detail}");
        return result;
    }

    private static Dictionary<string, int> Weights(Run run, int nextPercent, IReadOnlyList<string> previous, TargetState observed)
    {
        var previousSizes = previous.Select(g => (g, observed.Instances.Count(i => i.Group == g && IsRunning(i.Status)))).Where(p => p.Item2 > 0).ToList();
        if (previousSizes.Count == 0)
        {
            nextPercent = 100;
        }

        var weights = Split(nextPercent, run.Launched.Select(l => (l.Key, l.Value)).ToList());
        foreach (var (g, w) in Split(100 - nextPercent, previousSizes))
        {
            weights[g] = w;
        }

        return weights;
    }

    private static string Describe(IReadOnlyDictionary<string, int> weights) =>
        weights.Count == 0 ? "no traffic" : string.Join(", ", weights.Select(w => string.Create(CultureInfo.InvariantCulture, $"{w.Key} {w.Value}%")));

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
            File.WriteAllText(store.ReportPath, report);
            if (_options.GetEnvironmentVariable("GITHUB_STEP_SUMMARY") is { Length: > 0 } summary)
            {
                File.AppendAllText(summary, report + "\n");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The rollout is done and recorded; a summary that cannot be written must not turn it into a failure.
            _options.Log.Warning(RolloutErrors.StateUnusable, $"could not write the rollout report: {e.Message}");
        }
    }

    /// <summary>The mutable bookkeeping of one rollout while it runs.</summary>
    private sealed class Run(DeploymentScope scope, ReleaseRef release, RolloutStrategy strategy, string id, int seq)
    {
        public DeploymentScope Scope { get; } = scope;

        public ReleaseRef Release { get; } = release;

        public RolloutStrategy Strategy { get; } = strategy;

        public string Id { get; } = id;

        public int Seq { get; } = seq;

        public string BaseGroup => GroupName(Seq, Release.ReleaseId, null);

        public ReleaseRef? PreviousRelease { get; init; }

        public List<string> Previous { get; init; } = [];

        public List<string> NextGroups { get; } = [];

        /// <summary>Groups launched so far with their sizes, in launch order.</summary>
        public Dictionary<string, int> Launched { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, int> Weights { get; set; } = new(StringComparer.Ordinal);

        public List<StepRecord> Steps { get; } = [];

        public List<GateResult> Gates { get; } = [];

        public string? LastDescription { get; set; }
    }

    private sealed class StepFailedException(string message, string description) : Exception(message)
    {
        public string Description { get; } = description;
    }
}
