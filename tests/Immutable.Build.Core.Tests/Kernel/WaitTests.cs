namespace Immutable.Build.Core.Tests.Kernel;

/// <summary>The one polling wait, on a fake clock: when it tries, when it gives up, and how it stops.</summary>
public sealed class WaitTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(300);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_condition_true_at_once_is_tried_once_and_no_time_passes()
    {
        var clock = new SteppedClock();
        var tries = 0;

        var held = await clock.DriveAsync(Wait.UntilAsync(_ => new ValueTask<bool>(++tries > 0), Second, Interval, clock, Ct));

        Assert.True(held);
        Assert.Equal(1, tries);
        Assert.Equal(TimeSpan.Zero, clock.Elapsed);
        Assert.Empty(clock.Waits);
    }

    [Fact]
    public async Task It_returns_true_on_the_try_where_the_condition_turns_true()
    {
        var clock = new SteppedClock();
        var tries = 0;

        var held = await clock.DriveAsync(Wait.UntilAsync(_ => new ValueTask<bool>(++tries == 3), TimeSpan.FromMinutes(1), Interval, clock, Ct));

        Assert.True(held);
        Assert.Equal(3, tries);
        Assert.Equal([Interval, Interval], clock.Waits);
        Assert.Equal(2 * Interval, clock.Elapsed);
    }

    [Fact]
    public async Task On_timeout_it_returns_false_after_exactly_the_timeout_having_tried_at_the_deadline()
    {
        var clock = new SteppedClock();
        var triedAt = new List<TimeSpan>();

        var held = await clock.DriveAsync(Wait.UntilAsync(
            _ =>
            {
                triedAt.Add(clock.Elapsed);
                return new ValueTask<bool>(false);
            },
            Second,
            Interval,
            clock,
            Ct));

        Assert.False(held);
        Assert.Equal(Second, clock.Elapsed);
        // The last wait is cut short to land on the deadline, where the condition gets a last try.
        Assert.Equal([Interval, Interval, Interval, TimeSpan.FromMilliseconds(100)], clock.Waits);
        Assert.Equal([TimeSpan.Zero, Interval, 2 * Interval, 3 * Interval, Second], triedAt);
    }

    [Fact]
    public async Task A_zero_timeout_still_tries_once()
    {
        var clock = new SteppedClock();
        var tries = 0;

        Assert.False(await clock.DriveAsync(Wait.UntilAsync(_ => new ValueTask<bool>(++tries < 0), TimeSpan.Zero, Interval, clock, Ct)));
        Assert.True(await clock.DriveAsync(Wait.UntilAsync(_ => new ValueTask<bool>(true), TimeSpan.Zero, Interval, clock, Ct)));

        Assert.Equal(1, tries);
        Assert.Equal(TimeSpan.Zero, clock.Elapsed);
    }

    [Fact]
    public async Task Cancellation_while_waiting_ends_the_wait_with_OperationCanceledException()
    {
        var clock = new SteppedClock();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var tries = 0;

        var waiting = Wait.UntilAsync(_ => new ValueTask<bool>(++tries < 0), TimeSpan.FromMinutes(1), Interval, clock, cts.Token);
        Assert.Equal(Interval, await clock.NextWaitAsync());
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(1, tries);
        Assert.Equal(TimeSpan.Zero, clock.Elapsed);
    }

    [Fact]
    public async Task A_cancelled_token_ends_the_wait_before_the_condition_runs()
    {
        var clock = new SteppedClock();
        var tries = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Wait.UntilAsync(_ => new ValueTask<bool>(++tries > 0), Second, Interval, clock, new CancellationToken(canceled: true)));
        Assert.Equal(0, tries);
    }

    [Fact]
    public async Task The_token_reaches_the_condition()
    {
        var clock = new SteppedClock();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        CancellationToken seen = default;

        await clock.DriveAsync(Wait.UntilAsync(t => new ValueTask<bool>((seen = t) == t), Second, Interval, clock, cts.Token));

        Assert.Equal(cts.Token, seen);
    }

    [Fact]
    public async Task ForAsync_returns_the_first_value_the_probe_finds_or_null_on_timeout()
    {
        var clock = new SteppedClock();
        var tries = 0;

        var found = await clock.DriveAsync(Wait.ForAsync(_ => new ValueTask<string?>(++tries == 2 ? "ready" : null), Second, Interval, clock, Ct));
        var missing = await clock.DriveAsync(Wait.ForAsync(_ => new ValueTask<string?>((string?)null), Second, Interval, clock, Ct));

        Assert.Equal("ready", found);
        Assert.Null(missing);
        Assert.Equal(Interval + Second, clock.Elapsed);
    }

    [Fact]
    public async Task An_infinite_timeout_waits_until_the_condition_holds()
    {
        var clock = new SteppedClock();
        var tries = 0;

        var held = await clock.DriveAsync(Wait.UntilAsync(_ => new ValueTask<bool>(++tries == 50), Timeout.InfiniteTimeSpan, TimeSpan.FromHours(1), clock, Ct));

        Assert.True(held);
        Assert.Equal(TimeSpan.FromHours(49), clock.Elapsed);
    }

    [Fact]
    public async Task A_timeout_past_the_calendar_does_not_overflow()
    {
        var clock = new SteppedClock();
        var tries = 0;

        Assert.True(await clock.DriveAsync(Wait.UntilAsync(_ => new ValueTask<bool>(++tries == 3), TimeSpan.MaxValue, Interval, clock, Ct)));
        Assert.Equal(2 * Interval, clock.Elapsed);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public async Task A_zero_or_negative_interval_polls_every_millisecond_instead_of_spinning_or_hanging(int intervalMs)
    {
        var clock = new SteppedClock();

        Assert.False(await clock.DriveAsync(Wait.UntilAsync(_ => new ValueTask<bool>(false), TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(intervalMs), clock, Ct)));
        Assert.Equal(Enumerable.Repeat(TimeSpan.FromMilliseconds(1), 5), clock.Waits);
    }
}
