using Immutable.Build.Rollout;
using Immutable.Build.Targets;
using static Immutable.Build.Core.Tests.Rollout.RolloutTestKit;

namespace Immutable.Build.Core.Tests.Rollout;

/// <summary>
/// A rollout stopped after each durable line in turn (as a SIGKILL between two journal or ledger lines would stop it)
/// is converged by the next engine: no orphan instances, traffic only to running instances of one release, every
/// rollout recorded once in the ledger.
/// </summary>
public sealed class CrashRecoveryTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewWorkDir("rollout-crash");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, bool> Scenarios() => new()
    {
        { "bluegreen", true },
        { "bluegreen", false },
        { "canary", true },
        { "canary", false },
        { "rolling", true },
        { "rolling", false },
    };

    private static RolloutStrategy Strategy(string name) => name switch
    {
        "bluegreen" => RolloutStrategy.BlueGreen(2),
        "canary" => RolloutStrategy.Canary(2, [10, 50, 100]),
        _ => RolloutStrategy.Rolling(4, batchSize: 2, maxSurge: 2),
    };

    [Theory]
    [MemberData(nameof(Scenarios))]
    public async Task Killed_after_any_line_the_next_call_converges(string strategy, bool v2Healthy)
    {
        var writes = await CountWritesAsync(strategy, v2Healthy);
        Assert.True(writes > 8, $"only {writes} writes");
        for (var k = 1; k <= writes; k++)
        {
            var dir = Path.Combine(_dir, $"{strategy}-{v2Healthy}-{k}");
            var scope = Scope();
            var target = new InMemoryTarget();
            await new RolloutEngine(target, Options(dir)).DeployAsync(scope, Release("v1"), Strategy(strategy), TestContext.Current.CancellationToken);
            if (!v2Healthy)
            {
                target.SetHealth("v2", InMemoryHealth.Exits);
            }

            using var kill = new CancellationTokenSource();
            var seen = 0;
            var crashing = new RolloutEngine(target, Options(dir) with
            {
                AfterDurableWrite = what =>
                {
                    if (++seen == k)
                    {
                        kill.Cancel();
                        throw new OperationCanceledException($"killed after write {k}: {what}", kill.Token);
                    }
                },
            });
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => crashing.DeployAsync(scope, Release("v2"), Strategy(strategy), kill.Token));

            // The next engine call, alternately a status repair and a new deploy, converges.
            var engine = new RolloutEngine(target, Options(dir));
            var context = $"{strategy}, v2 {(v2Healthy ? "healthy" : "crashing")}, killed after write {k}/{writes}";
            if (k % 2 == 0)
            {
                var status = await engine.StatusAsync(scope, repair: true, TestContext.Current.CancellationToken);
                Assert.True(status.InSync, $"{context}: {string.Join("; ", status.Drift)}");
                var current = status.Current!;
                Assert.Contains(current.ReleaseId, (string[])(v2Healthy ? ["v1", "v2"] : ["v1"]));
                await AssertConvergedAsync(target, scope, engine, current, context);
            }
            else
            {
                var v3 = await engine.DeployAsync(scope, Release("v3"), Strategy(strategy), TestContext.Current.CancellationToken);
                Assert.True(v3.Succeeded, $"{context}: {v3.Reason}");
                await AssertConvergedAsync(target, scope, engine, Release("v3"), context);
            }
        }
    }

    [Fact]
    public async Task A_torn_last_line_is_ignored_and_the_next_line_starts_fresh()
    {
        var scope = Scope();
        var target = new InMemoryTarget();
        var engine = new RolloutEngine(target, Options(_dir));
        await engine.DeployAsync(scope, Release("v1"), RolloutStrategy.BlueGreen(1), TestContext.Current.CancellationToken);
        var journal = Path.Combine(engine.ScopeDirectory(scope), "journal.jsonl");
        await File.AppendAllTextAsync(journal, "{\"type\":\"begin\",\"rollout\":\"x", TestContext.Current.CancellationToken);

        var result = await engine.DeployAsync(scope, Release("v2"), RolloutStrategy.BlueGreen(1), TestContext.Current.CancellationToken);

        Assert.True(result.Succeeded, result.Reason);
        Assert.Empty(result.Repairs);
        var lines = await File.ReadAllLinesAsync(journal, TestContext.Current.CancellationToken);
        Assert.Contains(lines, l => l == "{\"type\":\"begin\",\"rollout\":\"x");
        Assert.Contains(lines, l => l.StartsWith("{\"type\":\"begin\",\"rollout\":\"" + scope.Key + "-2\"", StringComparison.Ordinal));
    }

    private static async Task AssertConvergedAsync(InMemoryTarget target, DeploymentScope scope, RolloutEngine engine, ReleaseRef expected, string context)
    {
        var ledger = await engine.HistoryAsync(scope, TestContext.Current.CancellationToken);
        var current = ledger.Last(e => e.Type == "rollout");
        Assert.Equal(expected.ReleaseId, current.Current?.ReleaseId);
        var state = await target.ObserveAsync(scope, TestContext.Current.CancellationToken);
        // No orphans: everything running belongs to the current groups.
        Assert.All(state.Instances, i => Assert.True(current.CurrentGroups.Contains(i.Group), $"{context}: orphan {i.Group}"));
        Assert.All(state.Instances, i => Assert.Equal("running", i.Status));
        var groups = await AssertServesAsync(target, scope, expected);
        Assert.All(groups.Split(','), g => Assert.Contains(g, current.CurrentGroups));
        // Each rollout is in the ledger exactly once, and the journal has closed every rollout it began.
        Assert.Equal(ledger.Count(e => e.Type == "rollout"), ledger.Where(e => e.Type == "rollout").Select(e => e.RolloutId).Distinct().Count());
        var status = await engine.StatusAsync(scope, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Null(status.Interrupted);
    }

    private async Task<int> CountWritesAsync(string strategy, bool v2Healthy)
    {
        var scope = Scope();
        var target = new InMemoryTarget();
        var dir = Path.Combine(_dir, "count-" + strategy + v2Healthy);
        await new RolloutEngine(target, Options(dir)).DeployAsync(scope, Release("v1"), Strategy(strategy), TestContext.Current.CancellationToken);
        if (!v2Healthy)
        {
            target.SetHealth("v2", InMemoryHealth.Exits);
        }

        var writes = 0;
        var result = await new RolloutEngine(target, Options(dir) with { AfterDurableWrite = _ => writes++ }).DeployAsync(scope, Release("v2"), Strategy(strategy), TestContext.Current.CancellationToken);
        Assert.Equal(v2Healthy, result.Succeeded);
        return writes;
    }
}
