namespace Immutable.Build.Core.Tests.Kernel;

/// <summary>The exclusive file lock: one holder at a time, in this process too, and waits on a fake clock.</summary>
public sealed class FileLockTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewWorkDir("kernel-lock");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string LockPath => Path.Combine(_dir, "x.lock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_first_holder_gets_the_lock_and_creates_the_file()
    {
        using var held = FileLock.TryAcquire(LockPath);

        Assert.NotNull(held);
        Assert.Equal(LockPath, held.Path);
        Assert.True(File.Exists(LockPath));
    }

    [Fact]
    public void A_second_holder_in_the_same_process_is_refused_while_the_first_holds_it()
    {
        // Two handles of one process must exclude each other: the deploy lock and the local host's control lock
        // are taken by separate engines (or threads) of one process as well as by separate processes.
        using var first = FileLock.TryAcquire(LockPath);
        Assert.NotNull(first);

        Assert.Null(FileLock.TryAcquire(LockPath));
        Assert.Null(FileLock.TryAcquire(LockPath));
    }

    [Fact]
    public void The_lock_is_free_again_after_Dispose()
    {
        var first = FileLock.TryAcquire(LockPath);
        Assert.NotNull(first);
        first.Dispose();

        using var second = FileLock.TryAcquire(LockPath);
        Assert.NotNull(second);
    }

    [Fact]
    public void Locks_on_two_files_are_independent()
    {
        using var a = FileLock.TryAcquire(LockPath);
        using var b = FileLock.TryAcquire(Path.Combine(_dir, "y.lock"));

        Assert.NotNull(a);
        Assert.NotNull(b);
    }

    [Fact]
    public void A_folder_that_does_not_exist_is_an_error_not_a_held_lock()
    {
        Assert.ThrowsAny<IOException>(() => FileLock.TryAcquire(Path.Combine(_dir, "missing", "x.lock")));
    }

    [Fact]
    public async Task AcquireAsync_on_a_free_lock_takes_it_at_once()
    {
        var clock = new SteppedClock();

        using var held = await clock.DriveAsync(FileLock.AcquireAsync(LockPath, TimeSpan.FromSeconds(5), clock, Ct));

        Assert.NotNull(held);
        Assert.Equal(TimeSpan.Zero, clock.Elapsed);
    }

    [Fact]
    public async Task AcquireAsync_gives_null_after_exactly_the_timeout_while_the_lock_stays_held()
    {
        var clock = new SteppedClock();
        using var holder = FileLock.TryAcquire(LockPath);
        Assert.NotNull(holder);

        var waited = await clock.DriveAsync(FileLock.AcquireAsync(LockPath, TimeSpan.FromSeconds(2), clock, Ct));

        Assert.Null(waited);
        Assert.Equal(TimeSpan.FromSeconds(2), clock.Elapsed);
        Assert.All(clock.Waits, w => Assert.Equal(TimeSpan.FromMilliseconds(100), w));
    }

    [Fact]
    public async Task AcquireAsync_takes_the_lock_on_the_first_poll_after_the_holder_lets_go()
    {
        var clock = new SteppedClock();
        var holder = FileLock.TryAcquire(LockPath);
        Assert.NotNull(holder);

        var waiting = FileLock.AcquireAsync(LockPath, TimeSpan.FromSeconds(10), clock, Ct);
        var poll = await clock.NextWaitAsync();
        holder.Dispose();
        clock.Advance(poll);
        using var taken = await waiting.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.NotNull(taken);
        Assert.Equal(poll, clock.Elapsed);
        Assert.Null(FileLock.TryAcquire(LockPath));
    }

    [Fact]
    public async Task AcquireAsync_honours_cancellation_while_waiting()
    {
        var clock = new SteppedClock();
        using var holder = FileLock.TryAcquire(LockPath);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var waiting = FileLock.AcquireAsync(LockPath, TimeSpan.FromMinutes(1), clock, cts.Token);
        await clock.NextWaitAsync();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }
}
