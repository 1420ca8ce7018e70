using Immutable.Build.Rollout;
using Immutable.Build.Targets;
using Microsoft.Extensions.Time.Testing;
using static Immutable.Build.Core.Tests.Rollout.RolloutTestKit;

namespace Immutable.Build.Core.Tests.Rollout;

/// <summary>Blue-green, canary and rolling against the in-memory target: routing, ledger, rollback, prune, drift, report.</summary>
public sealed class EngineTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewWorkDir("rollout");
    private readonly InMemoryTarget _target = new();
    private readonly DeploymentScope _scope = Scope();
    private readonly List<string> _log = [];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private RolloutEngine Engine(Func<RolloutEngineOptions, RolloutEngineOptions>? tweak = null) => new(_target, (tweak ?? (o => o))(Options(_dir, _log)));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Blue_green_switches_all_traffic_at_once_and_decommissions_the_old_group()
    {
        var engine = Engine();
        var v1 = await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(2), Ct);
        var v2 = await engine.DeployAsync(_scope, Release("v2"), RolloutStrategy.BlueGreen(2), Ct);

        Assert.True(v1.Succeeded, v1.Reason);
        Assert.True(v2.Succeeded, v2.Reason);
        Assert.Equal(["r1-v1"], v1.Groups);
        Assert.Equal(["r2-v2"], v2.Groups);
        Assert.Equal("r2-v2", await AssertServesAsync(_target, _scope, Release("v2")));
        var state = await _target.ObserveAsync(_scope, Ct);
        Assert.Equal(2, state.Instances.Count);
        Assert.All(state.Instances, i => Assert.Equal("r2-v2", i.Group));
        var routes = _target.RouteHistory(_scope);
        Assert.Equal(2, routes.Count);
        Assert.Equal(100, routes[0]["r1-v1"]);
        Assert.Equal(100, routes[1]["r2-v2"]);
        Assert.Equal(0, routes[1]["r1-v1"]);
        // One progress line per step, numbered.
        Assert.Contains("step 3/6 shift traffic: r2-v2 100%, r1-v1 0%", _log);
        Assert.Equal(12, _log.Count(l => l.StartsWith("step ", StringComparison.Ordinal)));

        var ledger = await engine.HistoryAsync(_scope, Ct);
        Assert.Equal(2, ledger.Count);
        Assert.All(ledger, e => Assert.Equal(RolloutOutcomes.Succeeded, e.Outcome));
        Assert.Equal("v2", ledger[1].Current!.ReleaseId);
        Assert.Equal(["r2-v2"], ledger[1].CurrentGroups);
        Assert.Equal("bluegreen", ledger[1].Strategy);
        Assert.True(ledger[1].EndedAt >= ledger[1].StartedAt);
    }

    [Fact]
    public async Task Blue_green_keeps_the_old_group_for_the_configured_delay()
    {
        var time = new FakeTimeProvider();
        var engine = Engine(o => o with { Time = time });
        await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(1), Ct);
        var started = time.GetUtcNow();
        var deploying = engine.DeployAsync(_scope, Release("v2"), RolloutStrategy.BlueGreen(1, keepOldFor: TimeSpan.FromMilliseconds(300)), Ct);
        await AdvanceAsync(time, TimeSpan.FromMilliseconds(290), TimeSpan.FromMilliseconds(10));
        Assert.False(deploying.IsCompleted);
        var result = await DriveAsync(time, deploying);
        Assert.True(result.Succeeded);
        Assert.True(result.Steps[^1].Duration >= TimeSpan.FromMilliseconds(250), result.Steps[^1].Duration.ToString());
        Assert.True(time.GetUtcNow() - started >= TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task Canary_moves_traffic_by_the_weights()
    {
        var engine = Engine();
        await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(2), Ct);
        var result = await engine.DeployAsync(_scope, Release("v2"), RolloutStrategy.Canary(2, [10, 50, 100]), Ct);

        Assert.True(result.Succeeded, result.Reason);
        var routes = _target.RouteHistory(_scope).Skip(1).ToList();
        Assert.Equal([(10, 90), (50, 50), (100, 0)], routes.Select(r => (r["r2-v2"], r["r1-v1"])));
        Assert.Equal("r2-v2", await AssertServesAsync(_target, _scope, Release("v2")));
        Assert.Contains("step 3/10 shift traffic: r2-v2 10%, r1-v1 90%", _log);
    }

    [Fact]
    public async Task Canary_without_a_previous_release_gives_the_new_one_everything()
    {
        var result = await Engine().DeployAsync(_scope, Release("v1"), RolloutStrategy.Canary(1), Ct);
        Assert.True(result.Succeeded);
        Assert.All(_target.RouteHistory(_scope), r => Assert.Equal(100, r["r1-v1"]));
    }

    [Fact]
    public async Task Rolling_replaces_batch_by_batch_within_the_surge()
    {
        var engine = Engine();
        var maxInstances = 0;
        _target.BeforeCall = op =>
        {
            if (op == "launch")
            {
                maxInstances = Math.Max(maxInstances, _target.ObserveAsync(_scope, default).Result.Instances.Count + 2);
            }
        };
        await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.Rolling(4, batchSize: 2, maxSurge: 2), Ct);
        Assert.Equal(["r1-v1-b1", "r1-v1-b2"], (await _target.ObserveAsync(_scope, Ct)).Instances.Select(i => i.Group).Distinct());
        var before = _target.RouteHistory(_scope).Count;
        var result = await engine.DeployAsync(_scope, Release("v2"), RolloutStrategy.Rolling(4, batchSize: 2, maxSurge: 2), Ct);

        Assert.True(result.Succeeded, result.Reason);
        var routes = _target.RouteHistory(_scope).Skip(before).Select(r => string.Join(",", r.Where(w => w.Value > 0).OrderBy(w => w.Key).Select(w => $"{w.Key}={w.Value}"))).ToList();
        Assert.Equal(
            ["r1-v1-b1=25,r1-v1-b2=25,r2-v2-b1=50", "r1-v1-b2=50,r2-v2-b1=50", "r2-v2-b1=50,r2-v2-b2=50"],
            routes);
        var state = await _target.ObserveAsync(_scope, Ct);
        Assert.Equal(4, state.Instances.Count);
        Assert.All(state.Instances, i => Assert.Equal("v2", i.ReleaseId));
        Assert.Equal(["r2-v2-b1", "r2-v2-b2"], (await engine.HistoryAsync(_scope, Ct))[^1].CurrentGroups);
        Assert.Equal(6, maxInstances);
    }

    [Fact]
    public async Task An_unhealthy_release_is_rolled_back_never_gets_traffic_and_the_ledger_says_why()
    {
        var time = new FakeTimeProvider();
        var engine = Engine(o => o with { Time = time });
        await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(2), Ct);
        _target.SetHealth("v2", InMemoryHealth.Unhealthy);
        var result = await DriveAsync(time, engine.DeployAsync(_scope, Release("v2"), RolloutStrategy.BlueGreen(2), Ct), TimeSpan.FromMilliseconds(50));

        Assert.Equal(RolloutOutcomes.RolledBack, result.Outcome);
        Assert.Contains("0/2 instance(s) running", result.Reason, StringComparison.Ordinal);
        Assert.All(_target.RouteHistory(_scope), r => Assert.Equal(0, r.GetValueOrDefault("r2-v2")));
        Assert.Equal("r1-v1", await AssertServesAsync(_target, _scope, Release("v1")));
        Assert.DoesNotContain((await _target.ObserveAsync(_scope, Ct)).Instances, i => i.ReleaseId == "v2");
        var last = (await engine.HistoryAsync(_scope, Ct))[^1];
        Assert.Equal(RolloutOutcomes.RolledBack, last.Outcome);
        Assert.Equal("v2", last.Release!.ReleaseId);
        Assert.Equal("v1", last.Current!.ReleaseId);
        Assert.Equal(result.Reason, last.Reason);
        Assert.Equal("IMB6005", Assert.Throws<ImmutableBuildException>(result.ThrowIfNotSucceeded).Code);
        Assert.Contains("rolled back", result.Report, StringComparison.Ordinal);
        Assert.Contains(_log, l => l.StartsWith("IMB6005: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_crashing_release_fails_fast_even_with_a_long_start_timeout()
    {
        var engine = Engine(o => o with { StartTimeout = TimeSpan.FromMinutes(5) });
        _target.SetHealth("v1", InMemoryHealth.Exits);
        var result = await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(1), Ct);

        Assert.Equal(RolloutOutcomes.RolledBack, result.Outcome);
        Assert.Contains("exited", result.Reason, StringComparison.Ordinal);
        Assert.True(result.Duration < TimeSpan.FromSeconds(30));
        // First release: nothing to go back to, so nothing serves and nothing is left running.
        var state = await _target.ObserveAsync(_scope, Ct);
        Assert.Empty(state.Instances);
        Assert.Empty(state.WeightsByGroup);
        Assert.Null((await engine.HistoryAsync(_scope, Ct))[^1].Current);
    }

    [Fact]
    public async Task A_failing_analysis_at_a_canary_step_routes_back_to_the_old_release()
    {
        var gate = new ScriptedGate(passes: 1);
        var engine = Engine(o => o with { AnalysisGates = [gate] });
        await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(2), Ct);
        gate.Reset(passes: 1);
        var result = await engine.DeployAsync(_scope, Release("v2"), RolloutStrategy.Canary(2, [10, 50, 100]), Ct);

        Assert.Equal(RolloutOutcomes.RolledBack, result.Outcome);
        Assert.Contains("analysis gate 'scripted' failed", result.Reason, StringComparison.Ordinal);
        var routes = _target.RouteHistory(_scope);
        Assert.Equal(50, routes[^2]["r2-v2"]);
        Assert.Equal(100, routes[^1]["r1-v1"]);
        Assert.Equal("r1-v1", await AssertServesAsync(_target, _scope, Release("v1")));
        Assert.Equal([GateVerdict.Passed, GateVerdict.Failed], result.Gates.Select(g => g.Verdict));
        Assert.Contains("| scripted | r2-v2 | failed |", result.Report, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_target_failure_mid_rollout_rolls_back()
    {
        var engine = Engine();
        await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(1), Ct);
        var routes = 0;
        _target.BeforeCall = op =>
        {
            if (op == "route" && routes++ == 0)
            {
                throw new IOException("proxy unreachable");
            }
        };
        var result = await engine.DeployAsync(_scope, Release("v2"), RolloutStrategy.BlueGreen(1), Ct);

        Assert.Equal(RolloutOutcomes.RolledBack, result.Outcome);
        Assert.Contains("proxy unreachable", result.Reason, StringComparison.Ordinal);
        Assert.Equal("r1-v1", await AssertServesAsync(_target, _scope, Release("v1")));
    }

    [Fact]
    public async Task A_failed_rollback_is_recorded_as_failed_and_the_next_call_repairs()
    {
        var engine = Engine();
        await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(1), Ct);
        _target.SetHealth("v2", InMemoryHealth.Exits);
        _target.BeforeCall = op =>
        {
            if (op == "decommission")
            {
                throw new IOException("host gone");
            }
        };
        var result = await engine.DeployAsync(_scope, Release("v2"), RolloutStrategy.BlueGreen(1), Ct);
        Assert.Equal(RolloutOutcomes.Failed, result.Outcome);
        Assert.Equal("IMB6006", Assert.Throws<ImmutableBuildException>(result.ThrowIfNotSucceeded).Code);
        Assert.Contains((await engine.StatusAsync(_scope, cancellationToken: Ct)).Drift, d => d.Group == "r2-v2");

        _target.BeforeCall = null;
        var status = await engine.StatusAsync(_scope, repair: true, Ct);
        Assert.Contains("decommissioned orphan group r2-v2", status.Repairs);
        Assert.True(status.InSync, string.Join("; ", status.Drift));
        Assert.Equal("r1-v1", await AssertServesAsync(_target, _scope, Release("v1")));
    }

    [Fact]
    public async Task A_rollback_whose_routing_fails_still_removes_the_new_group_and_reports_both_failures()
    {
        var engine = Engine();
        await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(1), Ct);
        _target.SetHealth("v2", InMemoryHealth.Exits);
        _target.BeforeCall = op =>
        {
            // The rollback's route fails (a host gone away); its decommission must still happen.
            if (op == "route")
            {
                throw new IOException("host b unreachable");
            }
        };
        var result = await engine.DeployAsync(_scope, Release("v2"), RolloutStrategy.BlueGreen(1), Ct);

        Assert.Equal(RolloutOutcomes.Failed, result.Outcome);
        Assert.Contains("host b unreachable", result.Reason, StringComparison.Ordinal);
        Assert.Contains("decommission", _target.Calls.Skip(_target.Calls.ToList().LastIndexOf("route")));
        Assert.DoesNotContain((await _target.ObserveAsync(_scope, Ct)).Instances, i => i.ReleaseId == "v2");
    }

    [Fact]
    public async Task Rollback_redeploys_the_previous_successful_release_by_digest_from_its_source()
    {
        var engine = Engine();
        await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(2), Ct);
        await engine.DeployAsync(_scope, Release("v2"), RolloutStrategy.BlueGreen(2), Ct);
        _target.SetHealth("v3", InMemoryHealth.Exits);
        await engine.DeployAsync(_scope, Release("v3"), RolloutStrategy.BlueGreen(2), Ct);

        var back = await engine.RollbackAsync(_scope, cancellationToken: Ct);

        Assert.True(back.Succeeded, back.Reason);
        Assert.Equal("v1", back.Release.ReleaseId);
        Assert.Equal("rollback", back.Trigger);
        var launch = _target.Launches[^1];
        Assert.Equal(Release("v1"), launch.Release);
        Assert.Equal(2, launch.Replicas);
        Assert.Equal("r4-v1", await AssertServesAsync(_target, _scope, Release("v1")));
        var ledger = await engine.HistoryAsync(_scope, Ct);
        Assert.Equal(("rollback", "v1"), (ledger[^1].Trigger, ledger[^1].Current!.ReleaseId));

        var forward = await engine.RollbackAsync(_scope, "v2", cancellationToken: Ct);
        Assert.True(forward.Succeeded);
        Assert.Equal("r5-v2", await AssertServesAsync(_target, _scope, Release("v2")));
        Assert.Equal("IMB6007", (await Assert.ThrowsAsync<ImmutableBuildException>(() => engine.RollbackAsync(_scope, "v3", cancellationToken: Ct))).Code);
        Assert.Equal("IMB6007", (await Assert.ThrowsAsync<ImmutableBuildException>(() => engine.RollbackAsync(Scope(), cancellationToken: Ct))).Code);
    }

    [Fact]
    public async Task Prune_keeps_the_current_and_n_previous_releases()
    {
        var engine = Engine();
        foreach (var v in new[] { "v1", "v2", "v3", "v2", "v4" })
        {
            await engine.DeployAsync(_scope, Release(v), RolloutStrategy.BlueGreen(1), Ct);
        }

        var pruned = await engine.PruneAsync(_scope, keep: 2, Ct);
        Assert.Equal(["v4", "v2", "v3"], pruned.Kept.Select(r => r.ReleaseId));
        Assert.Equal(["v1"], pruned.Removed.Select(r => r.ReleaseId));
        Assert.Equal(pruned.Kept.Select(r => r.ImageDigest), _target.LastPruneKeep);

        var none = await engine.PruneAsync(_scope, keep: 0, Ct);
        Assert.Equal(["v4"], none.Kept.Select(r => r.ReleaseId));
        Assert.Equal([Release("v4").ImageDigest], _target.LastPruneKeep);
        Assert.Equal("prune", (await engine.HistoryAsync(_scope, Ct))[^1].Type);
        // A prune line does not change what is current.
        Assert.Equal("r5-v4", await AssertServesAsync(_target, _scope, Release("v4")));
        Assert.Equal("v4", (await engine.StatusAsync(_scope, cancellationToken: Ct)).Current!.ReleaseId);
    }

    [Fact]
    public async Task Status_reports_drift_and_repair_removes_only_rollout_made_orphans()
    {
        var engine = Engine();
        await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(2), Ct);
        var clean = await engine.StatusAsync(_scope, cancellationToken: Ct);
        Assert.True(clean.InSync);
        Assert.Equal("v1", clean.Current!.ReleaseId);
        var group = Assert.Single(clean.Groups);
        Assert.Equal(("r1-v1", 100, 2, true), (group.Group, group.Weight, group.Running, group.IsCurrent));

        var manual = _target.AddUnmanaged(_scope, "hotfix", Release("hotfix").ImageDigest, "manual");
        await _target.LaunchAsync(new LaunchRequest(_scope, Release("v0"), "r0-v0", 1, new Dictionary<string, string>()), Ct);
        var drifted = await engine.StatusAsync(_scope, cancellationToken: Ct);
        Assert.False(drifted.InSync);
        Assert.Contains(drifted.Drift, d => d.InstanceId == manual.Id && d.Reason == "not created by a rollout");
        Assert.Contains(drifted.Drift, d => d.Group == "r0-v0" && d.Reason.Contains("desired " + Release("v1").ImageDigest, StringComparison.Ordinal));

        var repaired = await engine.StatusAsync(_scope, repair: true, Ct);
        Assert.Contains("decommissioned orphan group r0-v0", repaired.Repairs);
        Assert.Equal([manual.Id], repaired.Drift.Select(d => d.InstanceId));
        Assert.Contains((await _target.ObserveAsync(_scope, Ct)).Instances, i => i.Id == manual.Id);

        _target.Kill(_scope, (await _target.ObserveAsync(_scope, Ct)).Instances.First(i => i.Group == "r1-v1").Id);
        _target.Kill(_scope, (await _target.ObserveAsync(_scope, Ct)).Instances.Last(i => i.Group == "r1-v1").Id);
        Assert.Contains((await engine.StatusAsync(_scope, cancellationToken: Ct)).Drift, d => d.Reason == "current group r1-v1 has no running instance");
    }

    [Fact(Timeout = 60_000)]
    public async Task Repair_relaunches_the_current_release_when_nothing_serves_it_and_only_then_is_in_sync()
    {
        var ct = TestContext.Current.CancellationToken;
        var engine = Engine();
        await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(2), ct);
        foreach (var instance in (await _target.ObserveAsync(_scope, ct)).Instances)
        {
            _target.Kill(_scope, instance.Id);
        }

        var unserved = await engine.StatusAsync(_scope, cancellationToken: ct);
        Assert.False(unserved.InSync);
        Assert.Contains(unserved.Drift, d => d.Reason.StartsWith("nothing serves v1", StringComparison.Ordinal));

        var repaired = await engine.StatusAsync(_scope, repair: true, ct);
        Assert.Contains(repaired.Repairs, r => r.StartsWith("relaunched v1", StringComparison.Ordinal) && r.EndsWith(RolloutOutcomes.Succeeded, StringComparison.Ordinal));
        Assert.True(repaired.InSync, string.Join("; ", repaired.Drift.Select(d => d.Reason)));
        await AssertServesAsync(_target, _scope, Release("v1"));
        var last = (await engine.HistoryAsync(_scope, ct))[^1];
        Assert.Equal(("repair", "v1", 2), (last.Trigger, last.Current!.ReleaseId, last.Replicas));
    }

    [Fact]
    public async Task The_report_is_written_to_the_step_summary_and_next_to_the_journal()
    {
        var summary = Path.Combine(_dir, "summary.md");
        await File.WriteAllTextAsync(summary, "# earlier\n", Ct);
        var engine = Engine(o => o with { GetEnvironmentVariable = n => n == "GITHUB_STEP_SUMMARY" ? summary : null });
        var result = await engine.DeployAsync(_scope, Release("v1"), RolloutStrategy.BlueGreen(1), Ct);

        var text = await File.ReadAllTextAsync(summary, Ct);
        Assert.StartsWith("# earlier\n### Rollout ", text, StringComparison.Ordinal);
        Assert.Contains("| # | step | what | started | duration | result |", text, StringComparison.Ordinal);
        Assert.Contains("| 3 | shift traffic | r1-v1 100% |", text, StringComparison.Ordinal);
        Assert.Contains("| outcome | **succeeded** |", text, StringComparison.Ordinal);
        Assert.Equal(result.Report, await File.ReadAllTextAsync(Path.Combine(engine.ScopeDirectory(_scope), "last-report.md"), Ct));
        Assert.True(File.Exists(Path.Combine(_dir, "rollouts", _scope.Key, "journal.jsonl")));
        Assert.True(File.Exists(Path.Combine(_dir, "rollouts", _scope.Key, "ledger.jsonl")));
    }

    /// <summary>Passes a given number of times, then fails.</summary>
    internal sealed class ScriptedGate(int passes) : IRolloutGate
    {
        private int _left = passes;

        public string Name => "scripted";

        public void Reset(int passes) => _left = passes;

        public Task<GateResult> EvaluateAsync(GateContext context, CancellationToken cancellationToken) =>
            Task.FromResult(Interlocked.Decrement(ref _left) >= 0
                ? new GateResult(Name, GateVerdict.Passed, "fine")
                : new GateResult(Name, GateVerdict.Failed, "error ratio 0.2"));
    }
}
