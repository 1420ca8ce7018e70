using Immutable.Build.Rollout;
using Immutable.Build.Targets;
using Microsoft.Extensions.Time.Testing;
using static Immutable.Build.Core.Tests.Rollout.RolloutTestKit;

namespace Immutable.Build.Core.Tests.Rollout;

/// <summary>Two engines (separate instances, one state directory, real OS file locks) deploying one scope.</summary>
public sealed class LockTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewWorkDir("rollout-lock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_second_deployer_fails_with_the_lock_error_naming_the_holder()
    {
        var ct = TestContext.Current.CancellationToken;
        var scope = Scope();
        var target = new InMemoryTarget();
        var gate = new BlockingGate();
        var first = new RolloutEngine(target, Options(_dir) with { HealthGates = [gate] });
        var time = new FakeTimeProvider();
        var second = new RolloutEngine(target, Options(_dir) with { LockTimeout = TimeSpan.FromMilliseconds(300), Time = time });

        var running = first.DeployAsync(scope, Release("v1"), RolloutStrategy.BlueGreen(1), ct);
        await gate.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        var waiting = second.DeployAsync(scope, Release("v2"), RolloutStrategy.BlueGreen(1), ct);
        await AdvanceAsync(time, TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(50));
        Assert.False(waiting.IsCompleted);
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => DriveAsync(time, waiting, TimeSpan.FromMilliseconds(50)));
        gate.Release.SetResult();
        var result = await running;

        Assert.Equal("IMB6004", e.Code);
        Assert.Contains($"pid {Environment.ProcessId}", e.Message, StringComparison.Ordinal);
        Assert.Contains("deploy v1", e.Message, StringComparison.Ordinal);
        Assert.True(result.Succeeded);
        Assert.DoesNotContain(target.Launches, l => l.Release.ReleaseId == "v2");
        // Another scope is not blocked by this one's lock.
        Assert.True((await DriveAsync(time, second.DeployAsync(Scope(), Release("v2"), RolloutStrategy.BlueGreen(1), ct))).Succeeded);
    }

    [Fact]
    public async Task A_second_deployer_waits_and_the_two_rollouts_never_overlap()
    {
        var ct = TestContext.Current.CancellationToken;
        var scope = Scope();
        var target = new InMemoryTarget();
        var gate = new BlockingGate();
        // One fake clock for both, so the ledger's times of the two rollouts compare.
        var time = new FakeTimeProvider();
        var engines = Enumerable.Range(0, 2).Select(_ => new RolloutEngine(target, Options(_dir) with { HealthGates = [gate], Time = time })).ToList();

        var a = engines[0].DeployAsync(scope, Release("v1"), RolloutStrategy.BlueGreen(1), ct);
        await gate.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        var b = engines[1].DeployAsync(scope, Release("v2"), RolloutStrategy.BlueGreen(1), ct);
        // Most of the lock timeout passes while the first rollout holds the lock; the second keeps waiting.
        await AdvanceAsync(time, TimeSpan.FromSeconds(3), TimeSpan.FromMilliseconds(100));
        Assert.False(b.IsCompleted);
        Assert.Equal(1, gate.Calls);
        gate.Release.SetResult();
        // The first needs no clock to finish; the second takes the lock at its next poll.
        var first = await a;
        var results = new[] { first, await DriveAsync(time, b, TimeSpan.FromMilliseconds(100)) };

        Assert.All(results, r => Assert.True(r.Succeeded, r.Reason));
        Assert.Equal(1, gate.MaxConcurrent);
        var ledger = await engines[0].HistoryAsync(scope, ct);
        Assert.Equal(["v1", "v2"], ledger.Select(l => l.Release!.ReleaseId));
        Assert.True(ledger[1].StartedAt >= ledger[0].EndedAt);
        Assert.Equal("r2-v2", await AssertServesAsync(target, scope, Release("v2")));
    }

    /// <summary>Holds the first evaluation until released; counts concurrent evaluations.</summary>
    private sealed class BlockingGate : IRolloutGate
    {
        private int _active;

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Calls;

        public int MaxConcurrent;

        public string Name => "blocking";

        public async Task<GateResult> EvaluateAsync(GateContext context, CancellationToken cancellationToken)
        {
            var now = Interlocked.Increment(ref _active);
            Interlocked.Increment(ref Calls);
            MaxConcurrent = Math.Max(MaxConcurrent, now);
            Entered.TrySetResult();
            await Release.Task.WaitAsync(cancellationToken);
            Interlocked.Decrement(ref _active);
            return new GateResult(Name, GateVerdict.Passed, "released");
        }
    }
}
