using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Immutable.Build.Rollout;
using Immutable.Build.State;
using Immutable.Build.Targets;
using Xunit;

namespace Immutable.Build.Testing;

/// <summary>
/// What every shared state backend (S3, a Docker host) must give the engine, as scenarios a backend's test class
/// calls: one lock, one history and convergence across runners. A runner is what a CI job is: its own store client
/// (a fresh <see cref="IStateStore"/>), its own target client and its own local state directory; they share only
/// the backend and the real target behind it. The backend's test class provides how to open a store and a target,
/// the releases, and where the log lines go.
/// </summary>
/// <remarks>
/// The store is opened from a <see cref="StateContext"/> so that each scenario picks the lease (a killed runner's
/// short one, a long one it must clear by force) and the abandon-on-dispose hook, and so the store's own warnings
/// (the takeover) reach <see cref="Lines"/>; the backend lays its settings and environment over it. Every scenario
/// uses scopes of its own (<see cref="NewScope"/>), so scenarios and iterations never see each other's state.
/// </remarks>
public sealed class SharedStateScenarios
{
    private readonly Func<StateContext, IStateStore> _openStore;
    private readonly Func<IDeploymentTarget> _newTarget;
    private readonly Func<int, ReleaseRef> _release;
    private readonly string _app;

    /// <param name="openStore">A fresh store client on the shared backend, from the context the scenario sets (lease, log); the backend adds its settings and environment.</param>
    /// <param name="newTarget">A fresh client of the real target, one per runner.</param>
    /// <param name="release">Release n (1, 2, 3) of the app.</param>
    /// <param name="lines">Where every log line of the engines and stores goes; warnings as "IMBxxxx message".</param>
    /// <param name="app">The prefix of the scenarios' app names: short, lowercase, so a scope's resources stay within the target's name limits.</param>
    public SharedStateScenarios(Func<StateContext, IStateStore> openStore, Func<IDeploymentTarget> newTarget, Func<int, ReleaseRef> release, ConcurrentQueue<string> lines, string app = "shared")
    {
        ArgumentNullException.ThrowIfNull(openStore);
        ArgumentNullException.ThrowIfNull(newTarget);
        ArgumentNullException.ThrowIfNull(release);
        ArgumentNullException.ThrowIfNull(lines);
        _openStore = openStore;
        _newTarget = newTarget;
        _release = release;
        _app = app;
        Lines = lines;
        Log = new ReleaseLog(lines.Enqueue, lines.Enqueue, (code, message) => lines.Enqueue(code + " " + message));
    }

    /// <summary>Every log line of every runner.</summary>
    public ConcurrentQueue<string> Lines { get; }

    /// <summary>The log every runner writes to.</summary>
    public ReleaseLog Log { get; }

    /// <summary>Every launch any runner asked its target for, by scope.</summary>
    public ConcurrentQueue<LaunchRequest> Launches { get; } = new();

    /// <summary>The lease of a normal runner: long enough that a slow backend call never lets it lapse while its holder runs.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The lease of a runner that is killed: a runner that takes over waits this long.</summary>
    public TimeSpan KilledLease { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often a waiter looks at the lock again.</summary>
    public TimeSpan LockPoll { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The strategy of every rollout: blue-green of one instance, so each run has every kind of durable write.</summary>
    public RolloutStrategy Strategy { get; init; } = RolloutStrategy.BlueGreen(1);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>
    /// Runner A is held right after its first durable write of a v1 deploy; runner B's v2 deploy gives up after its
    /// lock timeout with IMB6004 naming A; A then finishes. B never launched anything.
    /// </summary>
    public async Task TwoRunnersAtOnceAsync()
    {
        var scope = NewScope("two");
        var wrote = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writes = 0;
        await using var a = NewRunner(afterWrite: _ =>
        {
            if (Interlocked.Increment(ref writes) == 1)
            {
                wrote.TrySetResult();
                // The hook is synchronous, as a durable write is: holding it holds A between two lines, lock in hand.
                resume.Task.Wait(Ct);
            }
        });
        await using var b = NewRunner(lockTimeout: TimeSpan.FromSeconds(3));

        var running = Task.Run(() => a.Engine.DeployAsync(scope, _release(1), Strategy, Ct), Ct);
        ImmutableBuildException refused;
        TimeSpan waited;
        try
        {
            await wrote.Task.WaitAsync(TimeSpan.FromMinutes(1), Ct);
            var clock = Stopwatch.StartNew();
            refused = await Assert.ThrowsAsync<ImmutableBuildException>(() => b.Engine.DeployAsync(scope, _release(2), Strategy, Ct));
            waited = clock.Elapsed;
        }
        finally
        {
            // Whatever failed, A must not stay blocked on a pool thread.
            resume.TrySetResult();
        }

        var first = await running;

        Assert.Equal(StateErrors.LockTimeout, refused.Code);
        Assert.Contains($"pid {Environment.ProcessId}", refused.Message, StringComparison.Ordinal);
        Assert.Contains($"deploy {_release(1).ReleaseId}", refused.Message, StringComparison.Ordinal);
        Assert.True(waited >= TimeSpan.FromSeconds(2.5), $"B gave up after {waited}, before its lock timeout");
        Assert.True(first.Succeeded, first.Reason);
        Assert.DoesNotContain(Launches, l => l.Scope == scope && l.Release.ReleaseId == _release(2).ReleaseId);
        await AssertConvergedAsync(b, scope, _release(1), "after two runners at once");
    }

    /// <summary>
    /// <paramref name="writers"/> store clients append one record each to one journal at the same moment: every record
    /// is there exactly once. Then one client appends five records in a row while the others race it: its five stay in
    /// order.
    /// </summary>
    public async Task ConcurrentAppendsAsync(int writers = 20)
    {
        Assert.True(writers >= 2, "two writers at least");
        var stores = Enumerable.Range(0, writers).Select(_ => _openStore(Context())).ToList();
        try
        {
            var key = NewScope("appends").Key;
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var racing = stores.Select((store, i) => Task.Run(async () =>
            {
                await go.Task;
                await store.AppendAsync(key, StateLog.Journal, Record($"writer-{i}"), Ct);
            }, Ct)).ToList();
            go.SetResult();
            await Task.WhenAll(racing);

            var lines = await stores[^1].ReadAsync(key, StateLog.Journal, Ct);
            Assert.Equal(Enumerable.Range(0, writers).Select(i => Line($"writer-{i}")).Order(StringComparer.Ordinal), lines.Order(StringComparer.Ordinal));

            var ordered = NewScope("ordered").Key;
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var sequence = Task.Run(async () =>
            {
                await start.Task;
                for (var n = 0; n < 5; n++)
                {
                    await stores[0].AppendAsync(ordered, StateLog.Ledger, Record($"seq-{n}"), Ct);
                }
            }, Ct);
            var others = stores.Skip(1).Select((store, i) => Task.Run(async () =>
            {
                await start.Task;
                await store.AppendAsync(ordered, StateLog.Ledger, Record($"other-{i}"), Ct);
            }, Ct)).ToList();
            start.SetResult();
            await Task.WhenAll([sequence, .. others]);

            var ledger = await stores[1].ReadAsync(ordered, StateLog.Ledger, Ct);
            Assert.Equal(writers + 4, ledger.Count);
            Assert.Equal(ledger.Count, ledger.Distinct(StringComparer.Ordinal).Count());
            Assert.Equal(Enumerable.Range(0, 5).Select(n => Line($"seq-{n}")), ledger.Where(l => l.Contains("\"seq-", StringComparison.Ordinal)));
            // The journal of the same scope is a separate log.
            Assert.Empty(await stores[0].ReadAsync(ordered, StateLog.Journal, Ct));
        }
        finally
        {
            stores.ForEach(s => s.Dispose());
        }
    }

    /// <summary>
    /// A v2 blue-green deploy killed after each of its durable writes in turn, its lock left held as a killed runner
    /// leaves it: another runner (its own directory and store client) waits out the lease, takes the lock over with
    /// IMB6201 naming the old holder and a lock-takeover ledger line, and converges, alternately by a status repair and
    /// by deploying v3. Returns the number of durable writes of the deploy.
    /// </summary>
    public async Task<int> KilledAfterAnyDurableWriteAsync()
    {
        var writes = await CountDurableWritesAsync();
        Assert.True(writes > 8, $"only {writes} durable writes");
        for (var k = 1; k <= writes; k++)
        {
            var scope = NewScope($"kill{k}");
            var context = $"killed after write {k}/{writes}";
            await using (var a = NewRunner())
            {
                Assert.True((await a.Engine.DeployAsync(scope, _release(1), Strategy, Ct)).Succeeded, context + ": v1");
                await KillAsync(a.Directory, scope, _release(2), k, KilledLease);
            }

            await using var b = NewRunner(lockTimeout: KilledLease + TimeSpan.FromSeconds(30));
            ReleaseRef expected;
            if (k % 2 == 0)
            {
                var status = await b.Engine.StatusAsync(scope, repair: true, Ct);
                Assert.True(status.InSync, $"{context}: {string.Join("; ", status.Drift.Select(d => d.ToString()))}");
                expected = status.Current!;
                Assert.Contains(expected.ReleaseId, (string[])[_release(1).ReleaseId, _release(2).ReleaseId]);
            }
            else
            {
                var v3 = await b.Engine.DeployAsync(scope, _release(3), Strategy, Ct);
                Assert.True(v3.Succeeded, $"{context}: {v3.Reason}");
                expected = _release(3);
            }

            var command = $"deploy {_release(2).ReleaseId}";
            Assert.Contains(Lines, l => l.StartsWith(StateErrors.StaleLockTakenOver + " ", StringComparison.Ordinal) && l.Contains(scope.Key, StringComparison.Ordinal) && l.Contains(command, StringComparison.Ordinal));
            var history = await b.Engine.HistoryAsync(scope, Ct);
            var takeover = Assert.Single(history, e => e.Type == "lock-takeover");
            Assert.Contains(command, takeover.Reason, StringComparison.Ordinal);
            Assert.NotNull(takeover.Origin);
            await AssertConvergedAsync(b, scope, expected, context);
        }

        return writes;
    }

    /// <summary>Runner A deploys v1, runner B v2; runner C, which never deployed, rolls back to v1 and sees the whole history with who wrote it.</summary>
    public async Task RollbackFromThirdRunnerAsync()
    {
        var scope = NewScope("rollback");
        await using (var a = NewRunner())
        {
            Assert.True((await a.Engine.DeployAsync(scope, _release(1), Strategy, Ct)).Succeeded);
        }

        await using (var b = NewRunner())
        {
            Assert.True((await b.Engine.DeployAsync(scope, _release(2), Strategy, Ct)).Succeeded);
        }

        await using var c = NewRunner();
        var back = await c.Engine.RollbackAsync(scope, cancellationToken: Ct);

        Assert.True(back.Succeeded, back.Reason);
        Assert.Equal(_release(1).ReleaseId, back.Release.ReleaseId);
        Assert.Equal(_release(2).ReleaseId, back.PreviousRelease?.ReleaseId);
        var history = (await c.Engine.HistoryAsync(scope, Ct)).Where(e => e.Type == "rollout").ToList();
        Assert.Equal([("deploy", _release(1).ReleaseId), ("deploy", _release(2).ReleaseId), ("rollback", _release(1).ReleaseId)], history.Select(e => (e.Trigger, e.Release?.ReleaseId)));
        Assert.All(history, e =>
        {
            Assert.Equal(RolloutOutcomes.Succeeded, e.Outcome);
            Assert.NotNull(e.Origin);
            Assert.Equal(Environment.ProcessId, e.Origin.Pid);
            Assert.False(string.IsNullOrEmpty(e.Origin.Host));
        });
        await AssertConvergedAsync(c, scope, _release(1), "after the rollback");
    }

    /// <summary>
    /// A lock left by a killed runner with a long lease is shown by the lock status (holder, command) and cleared by a
    /// forced release, recorded in the ledger; the next deploy then takes the lock at once, with no takeover.
    /// </summary>
    public async Task ForceReleaseAsync()
    {
        var scope = NewScope("force");
        var longLease = TimeSpan.FromMinutes(5);
        var killedDir = TestEnvironment.NewWorkDir("shared-killed");
        await KillAsync(killedDir, scope, _release(1), 1, longLease);

        await using var op = NewRunner();
        var held = await op.Engine.LockStatusAsync(scope, Ct);
        Assert.NotNull(held);
        Assert.Equal($"deploy {_release(1).ReleaseId}", held.Command);
        Assert.Equal(Environment.ProcessId, held.Origin.Pid);
        Assert.True(held.Expires > DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1), $"the lease runs until {held.Expires:u}");

        var cleared = await op.Engine.ForceReleaseLockAsync(scope, Ct);
        Assert.Equal(held.LeaseId, cleared?.LeaseId);
        Assert.Null(await op.Engine.LockStatusAsync(scope, Ct));
        var release = Assert.Single(await op.Engine.HistoryAsync(scope, Ct), e => e.Type == "lock-release");
        Assert.Contains(held.Describe(), release.Reason, StringComparison.Ordinal);
        Assert.NotNull(release.Origin);
        Assert.Null(await op.Engine.ForceReleaseLockAsync(scope, Ct));

        await using var next = NewRunner(lockTimeout: TimeSpan.FromSeconds(5));
        var clock = Stopwatch.StartNew();
        var deployed = await next.Engine.DeployAsync(scope, _release(2), Strategy, Ct);
        Assert.True(deployed.Succeeded, deployed.Reason);
        Assert.True(clock.Elapsed < longLease, $"the deploy took {clock.Elapsed}");
        Assert.DoesNotContain(Lines, l => l.StartsWith(StateErrors.StaleLockTakenOver + " ", StringComparison.Ordinal) && l.Contains(scope.Key, StringComparison.Ordinal));
        Assert.DoesNotContain(await next.Engine.HistoryAsync(scope, Ct), e => e.Type == "lock-takeover");
        await AssertConvergedAsync(next, scope, _release(2), "after the forced release");
    }

    /// <summary>
    /// A damaged line in the middle of the shared ledger stops the next deploy with IMB6210 and nothing written;
    /// `state repair` from another runner puts a record keeping the line's text in its place and writes back the
    /// entry from the journal; the deploy then goes ahead with v1 and v2 still in history.
    /// </summary>
    public async Task RepairAsync()
    {
        var scope = NewScope("repair");
        await using (var a = NewRunner())
        {
            foreach (var n in new[] { 1, 2 })
            {
                var r = await a.Engine.DeployAsync(scope, _release(n), Strategy, Ct);
                Assert.True(r.Succeeded, r.Reason);
            }

            // Damage v1's ledger line (no longer the last) the way a hand edit would: still JSON, checksum wrong.
            var lines = (await a.Store.ReadAsync(scope.Key, StateLog.Ledger, Ct)).ToList();
            var v1 = lines.FindIndex(l => l.Contains(_release(1).ReleaseId, StringComparison.Ordinal) && l.Contains("\"type\":\"rollout\"", StringComparison.Ordinal));
            Assert.True(v1 >= 0 && v1 < lines.Count - 1, $"v1's ledger line at {v1} of {lines.Count}");
            var damaged = lines[v1].Replace("\"succeeded\"", "\"Succeeded\"", StringComparison.Ordinal);
            Assert.NotEqual(lines[v1], damaged);
            var records = lines.Select((l, i) => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(i == v1 ? damaged : l)).ToList();
            await a.Store.RewriteAsync(scope.Key, StateLog.Ledger, lines, records, Ct);
        }

        await using var b = NewRunner();
        var before = await b.Store.ReadAsync(scope.Key, StateLog.Ledger, Ct);
        var refused = await Assert.ThrowsAsync<ImmutableBuildException>(() => b.Engine.DeployAsync(scope, _release(3), Strategy, Ct));
        Assert.Equal(StateErrors.CorruptLine, refused.Code);
        Assert.Contains("state repair", refused.Message, StringComparison.Ordinal);
        Assert.Equal(before, await b.Store.ReadAsync(scope.Key, StateLog.Ledger, Ct));

        var done = await b.Engine.RepairStateAsync(scope, Ct);
        Assert.Contains(done, d => d.StartsWith("replaced ", StringComparison.Ordinal) && d.Contains("line ", StringComparison.Ordinal));
        Assert.Contains(done, d => d.StartsWith("rebuilt the ledger entry", StringComparison.Ordinal) && d.Contains(_release(1).ReleaseId, StringComparison.Ordinal));
        var after = await b.Store.ReadAsync(scope.Key, StateLog.Ledger, Ct);
        Assert.Contains(after, l => l.Contains("damagedText", StringComparison.Ordinal) && l.Contains("Succeeded", StringComparison.Ordinal));
        Assert.Empty(await b.Engine.RepairStateAsync(scope, Ct));

        var v3 = await b.Engine.DeployAsync(scope, _release(3), Strategy, Ct);
        Assert.True(v3.Succeeded, v3.Reason);
        Assert.Equal(_release(2).ReleaseId, v3.PreviousRelease?.ReleaseId);
        var history = await b.Engine.HistoryAsync(scope, Ct);
        foreach (var n in new[] { 1, 2, 3 })
        {
            Assert.Contains(history, e => e.IsSuccessfulRollout && e.Release?.ReleaseId == _release(n).ReleaseId);
        }

        Assert.Single(history, e => e.Type == "state-repair");
        await AssertConvergedAsync(b, scope, _release(3), "after the repair");
    }

    /// <summary>A scope no other scenario or iteration uses: the app prefix, the scenario's name and a random suffix (targets and backends outlive a test run).</summary>
    public DeploymentScope NewScope(string name) => new($"{_app}-{name}-{Guid.NewGuid().ToString("N")[..6]}", "test");

    /// <summary>
    /// A runner: its own local directory, store client and target client. <paramref name="shared"/> replaces the
    /// store's lease options; <paramref name="afterWrite"/> is the engine's durable-write hook.
    /// </summary>
    public Runner NewRunner(ConditionalStateOptions? shared = null, Action<string>? afterWrite = null, TimeSpan? lockTimeout = null, string? directory = null)
    {
        var store = _openStore(Context(shared));
        var target = new RecordingTarget(_newTarget(), Launches);
        var dir = directory ?? TestEnvironment.NewWorkDir("shared-runner");
        var engine = new RolloutEngine(target, new RolloutEngineOptions
        {
            StateDirectory = dir,
            StateStore = store,
            LockTimeout = lockTimeout ?? TimeSpan.FromSeconds(60),
            PollInterval = TimeSpan.FromMilliseconds(100),
            StartTimeout = TimeSpan.FromMinutes(1),
            Drain = TimeSpan.Zero,
            Log = Log,
            AfterDurableWrite = afterWrite,
        });
        return new Runner(dir, store, target, engine);
    }

    /// <summary>The durable writes of a v2 deploy over v1.</summary>
    private async Task<int> CountDurableWritesAsync()
    {
        var scope = NewScope("count");
        var writes = 0;
        await using var a = NewRunner(afterWrite: _ => Interlocked.Increment(ref writes));
        Assert.True((await a.Engine.DeployAsync(scope, _release(1), Strategy, Ct)).Succeeded);
        writes = 0;
        var v2 = await a.Engine.DeployAsync(scope, _release(2), Strategy, Ct);
        Assert.True(v2.Succeeded, v2.Reason);
        return writes;
    }

    /// <summary>Deploys <paramref name="release"/> from <paramref name="directory"/> and kills it after durable write <paramref name="k"/>; its lock stays held until <paramref name="lease"/> after its last renewal.</summary>
    private async Task KillAsync(string directory, DeploymentScope scope, ReleaseRef release, int k, TimeSpan lease)
    {
        using var kill = new CancellationTokenSource();
        var seen = 0;
        await using var killed = NewRunner(
            Context().Shared with { Lease = lease, PollInterval = LockPoll, AbandonOnDispose = true },
            what =>
            {
                if (++seen == k)
                {
                    kill.Cancel();
                    throw new OperationCanceledException($"killed after write {k}: {what}", kill.Token);
                }
            },
            directory: directory);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => killed.Engine.DeployAsync(scope, release, Strategy, kill.Token));
        Assert.Equal(k, seen);
    }

    /// <summary>
    /// Converged: the ledger's current release is <paramref name="expected"/>; exactly its instances run, in the current
    /// groups, and only they get traffic; each rollout is in the ledger once; nothing is left interrupted.
    /// </summary>
    private static async Task AssertConvergedAsync(Runner runner, DeploymentScope scope, ReleaseRef expected, string context)
    {
        var ledger = await runner.Engine.HistoryAsync(scope, Ct);
        var current = ledger.Last(e => e.Type == "rollout");
        Assert.True(expected.ReleaseId == current.Current?.ReleaseId, $"{context}: the ledger's current release is {current.Current?.ReleaseId}, not {expected.ReleaseId}");
        var rollouts = ledger.Where(e => e.Type == "rollout").Select(e => e.RolloutId).ToList();
        Assert.True(rollouts.Count == rollouts.Distinct(StringComparer.Ordinal).Count(), $"{context}: a rollout is in the ledger twice: {string.Join(", ", rollouts)}");

        var state = await runner.Target.ObserveAsync(scope, Ct);
        Assert.True(state.Instances.Count > 0, $"{context}: nothing runs");
        Assert.All(state.Instances, i =>
        {
            Assert.True(current.CurrentGroups.Contains(i.Group), $"{context}: orphan {i.Id} in {i.Group}");
            Assert.True(i.ImageDigest == expected.ImageDigest, $"{context}: {i.Id} runs {i.ReleaseId}");
            Assert.True(InstanceStatus.IsRunning(i.Status), $"{context}: {i.Id} is {i.Status}");
        });
        Assert.All(state.WeightsByGroup.Where(w => w.Value > 0), w => Assert.True(current.CurrentGroups.Contains(w.Key), $"{context}: traffic to {w.Key}"));

        var status = await runner.Engine.StatusAsync(scope, cancellationToken: Ct);
        Assert.True(status.InSync, $"{context}: {string.Join("; ", status.Drift.Select(d => d.ToString()))}{(status.Interrupted is null ? "" : "; interrupted")}");
    }

    private StateContext Context(ConditionalStateOptions? shared = null) => new()
    {
        Log = Log,
        Shared = shared ?? new ConditionalStateOptions { Lease = Lease, PollInterval = LockPoll },
    };

    private static byte[] Record(string id) => Encoding.UTF8.GetBytes(Line(id));

    private static string Line(string id) => $"{{\"id\":\"{id}\"}}";

    /// <summary>One runner: its directory, store client, target client and engine; disposing closes the clients.</summary>
    public sealed record Runner(string Directory, IStateStore Store, IDeploymentTarget Target, RolloutEngine Engine) : IAsyncDisposable
    {
        /// <inheritdoc />
        public ValueTask DisposeAsync()
        {
            Store.Dispose();
            (((RecordingTarget)Target).Inner as IDisposable)?.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>The real target, with every launch recorded, so a scenario can tell that a runner never launched.</summary>
    private sealed class RecordingTarget(IDeploymentTarget inner, ConcurrentQueue<LaunchRequest> launches) : IDeploymentTarget
    {
        public IDeploymentTarget Inner => inner;

        public string Name => inner.Name;

        public bool InstancesReachable => inner.InstancesReachable;

        public Task<TargetState> ObserveAsync(DeploymentScope scope, CancellationToken cancellationToken) => inner.ObserveAsync(scope, cancellationToken);

        public Task<IReadOnlyList<InstanceInfo>> LaunchAsync(LaunchRequest request, CancellationToken cancellationToken)
        {
            launches.Enqueue(request);
            return inner.LaunchAsync(request, cancellationToken);
        }

        public Task RouteAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weightsByGroup, CancellationToken cancellationToken) => inner.RouteAsync(scope, weightsByGroup, cancellationToken);

        public Task DecommissionAsync(DeploymentScope scope, string group, TimeSpan drain, CancellationToken cancellationToken) => inner.DecommissionAsync(scope, group, drain, cancellationToken);

        public Task PrepareAsync(DeploymentScope scope, CancellationToken cancellationToken) => inner.PrepareAsync(scope, cancellationToken);

        public Task<IReadOnlyList<string>> DescribeAsync(DeploymentScope scope, CancellationToken cancellationToken) => inner.DescribeAsync(scope, cancellationToken);

        public Task PruneAsync(DeploymentScope scope, IReadOnlyCollection<string> keepImageDigests, CancellationToken cancellationToken) => inner.PruneAsync(scope, keepImageDigests, cancellationToken);
    }
}
