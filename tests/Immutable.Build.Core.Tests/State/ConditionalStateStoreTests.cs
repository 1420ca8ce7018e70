using System.Text;
using Immutable.Build.State;
using Microsoft.Extensions.Time.Testing;

namespace Immutable.Build.Core.Tests.State;

/// <summary>The shared lock's lease, takeover and forced release, and race-free appends, on a fake clock.</summary>
public sealed class ConditionalStateStoreTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 3, 10, 0, 0, TimeSpan.Zero));
    private readonly MemoryObjects _objects = new();
    private readonly List<string> _warnings = [];

    private ConditionalStateStore Store(string user, bool abandon = false) => new(_objects, new ConditionalStateOptions
    {
        Lease = Lease,
        PollInterval = TimeSpan.FromSeconds(1),
        Time = _time,
        Origin = new RecordOrigin(user, "runner-" + user, 1000, "https://ci.example/runs/" + user),
        Log = new ReleaseLog(_ => { }, _ => { }, (code, message) => { lock (_warnings) { _warnings.Add($"{code} {message}"); } }),
        AbandonOnDispose = abandon,
    });

    [Fact]
    public async Task A_dead_holders_lock_is_refused_until_its_lease_passes_then_taken_over_naming_it()
    {
        var ct = TestContext.Current.CancellationToken;
        var dead = await Store("alice", abandon: true).AcquireLockAsync("app.prod", new LockRequest("deploy v1", TimeSpan.Zero), ct);
        await dead.DisposeAsync();

        var early = Store("bob").AcquireLockAsync("app.prod", new LockRequest("deploy v2", TimeSpan.FromSeconds(10)), ct);
        var refused = await Assert.ThrowsAsync<ImmutableBuildException>(() => DriveAsync(early));
        Assert.Equal("IMB6004", refused.Code);
        Assert.Contains("deploy v1 by alice@runner-alice (pid 1000), CI run https://ci.example/runs/alice", refused.Message, StringComparison.Ordinal);

        _time.Advance(Lease);
        await using var taken = await DriveAsync(Store("bob").AcquireLockAsync("app.prod", new LockRequest("deploy v2", TimeSpan.FromSeconds(5)), ct));
        Assert.Equal("alice", taken.TookOverFrom?.Origin.User);
        Assert.Contains(_warnings, w => w.StartsWith("IMB6201", StringComparison.Ordinal) && w.Contains("deploy v1 by alice", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_live_holder_renews_its_lease_so_nobody_takes_it_over()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var held = await Store("alice").AcquireLockAsync("app.prod", new LockRequest("deploy v1", TimeSpan.Zero), ct);
        for (var i = 0; i < 40; i++)
        {
            _time.Advance(Lease / 10);
            await Task.Delay(2, ct);
        }

        var waiting = Store("bob").AcquireLockAsync("app.prod", new LockRequest("deploy v2", TimeSpan.FromSeconds(3)), ct);
        var refused = await Assert.ThrowsAsync<ImmutableBuildException>(() => DriveAsync(waiting));
        Assert.Equal("IMB6004", refused.Code);
        Assert.Empty(_warnings);
        var holder = await Store("carol").ReadLockAsync("app.prod", ct);
        Assert.True(holder!.Expires > _time.GetUtcNow(), "the lease was renewed");
    }

    [Fact]
    public async Task A_released_lock_is_free_at_once_and_a_forced_release_does_not_let_the_old_holder_clobber_the_next()
    {
        var ct = TestContext.Current.CancellationToken;
        var first = await Store("alice").AcquireLockAsync("app.prod", new LockRequest("deploy v1", TimeSpan.Zero), ct);
        await first.DisposeAsync();
        Assert.Null(await Store("bob").ReadLockAsync("app.prod", ct));

        var stuck = await Store("alice").AcquireLockAsync("app.prod", new LockRequest("deploy v2", TimeSpan.Zero), ct);
        var cleared = await Store("ops").ForceReleaseLockAsync("app.prod", ct);
        Assert.Equal("deploy v2", cleared?.Command);
        await using var next = await Store("bob").AcquireLockAsync("app.prod", new LockRequest("deploy v3", TimeSpan.Zero), ct);
        // The old holder's renewal and release name a version that moved on: they change nothing.
        _time.Advance(Lease / 2);
        for (var i = 0; i < 500 && !Warned("IMB6205"); i++)
        {
            await Task.Delay(10, ct);
        }

        await stuck.DisposeAsync();
        Assert.Equal("deploy v3", (await Store("carol").ReadLockAsync("app.prod", ct))?.Command);
        Assert.Contains(_warnings, w => w.StartsWith("IMB6205", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Racing_appends_lose_nothing_and_keep_each_writers_order()
    {
        var ct = TestContext.Current.CancellationToken;
        var stores = Enumerable.Range(0, 20).Select(i => new ConditionalStateStore(_objects, new ConditionalStateOptions { MaxAppendAttempts = 200 })).ToList();
        _objects.ReadLatency = TimeSpan.FromMilliseconds(2);
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writers = stores.Select((s, i) => Task.Run(async () =>
        {
            await start.Task;
            for (var n = 0; n < 5; n++)
            {
                await s.AppendAsync("app.prod", StateLog.Journal, Encoding.UTF8.GetBytes($"{{\"w\":{i},\"n\":{n}}}"), ct);
            }
        }, ct)).ToList();
        start.SetResult();
        await Task.WhenAll(writers);

        var lines = await stores[0].ReadAsync("app.prod", StateLog.Journal, ct);
        Assert.Equal(100, lines.Count);
        Assert.Equal(100, lines.Distinct(StringComparer.Ordinal).Count());
        for (var i = 0; i < 20; i++)
        {
            var mine = lines.Where(l => l.StartsWith($"{{\"w\":{i},", StringComparison.Ordinal)).ToList();
            Assert.Equal(Enumerable.Range(0, 5).Select(n => $"{{\"w\":{i},\"n\":{n}}}"), mine);
        }

        Assert.True(_objects.Conflicts > 0, "the writers never raced");
        Assert.Equal(["app.prod"], await stores[0].ScopesAsync(ct));
    }

    [Fact]
    public async Task Bad_options_are_refused_with_their_code()
    {
        var e = Assert.Throws<ImmutableBuildException>(() => new ConditionalStateStore(_objects, new ConditionalStateOptions { Lease = TimeSpan.FromMilliseconds(10) }));
        Assert.Equal("IMB6203", e.Code);
        await Task.CompletedTask;
    }

    private bool Warned(string code)
    {
        lock (_warnings)
        {
            return _warnings.Any(w => w.StartsWith(code, StringComparison.Ordinal));
        }
    }

    private async Task<T> DriveAsync<T>(Task<T> task)
    {
        for (var i = 0; i < 600 && !task.IsCompleted; i++)
        {
            await Task.Delay(2);
            _time.Advance(TimeSpan.FromMilliseconds(500));
        }

        return await task;
    }
}
