namespace Immutable.Build.Core.Tests.Kernel;

/// <summary>The one retry loop, on a fake clock: when it stops, what it returns or throws, and how long it waits.</summary>
public sealed class RetryTests
{
    private static readonly RetryPolicy Fixed = new() { MaxAttempts = 3, BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(30), Jitter = false };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ValueTask<RetryDecision> Always<T>(RetryOutcome<T> outcome) => new(RetryDecision.Retry("again"));

    [Fact]
    public async Task Stop_on_the_first_outcome_returns_its_result_after_one_attempt()
    {
        var clock = new SteppedClock();
        var attempts = 0;
        var decided = new List<RetryOutcome<string>>();

        var result = await clock.DriveAsync(Retry.RunAsync(
            Fixed,
            clock,
            (n, _) => Task.FromResult($"result {n} of {++attempts}"),
            o =>
            {
                decided.Add(o);
                return new ValueTask<RetryDecision>(RetryDecision.Stop);
            },
            Ct));

        Assert.Equal("result 1 of 1", result);
        Assert.Equal(1, attempts);
        Assert.Equal([new RetryOutcome<string>(1, 3, "result 1 of 1", null)], decided);
        Assert.Empty(clock.Waits);
    }

    [Fact]
    public async Task It_retries_until_a_decision_says_stop()
    {
        var clock = new SteppedClock();

        var result = await clock.DriveAsync(Retry.RunAsync(
            Fixed with { MaxAttempts = 5 },
            clock,
            (n, _) => Task.FromResult(n),
            o => new ValueTask<RetryDecision>(o.Result < 3 ? RetryDecision.Retry("not yet") : RetryDecision.Stop),
            Ct));

        Assert.Equal(3, result);
        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)], clock.Waits);
    }

    [Fact]
    public async Task Exhausted_it_returns_the_last_result_after_MaxAttempts_attempts()
    {
        var clock = new SteppedClock();
        var decided = new List<RetryOutcome<int>>();

        var result = await clock.DriveAsync(Retry.RunAsync(
            Fixed,
            clock,
            (n, _) => Task.FromResult(n * 10),
            o =>
            {
                decided.Add(o);
                return Always(o);
            },
            Ct));

        Assert.Equal(30, result);
        Assert.Equal([1, 2, 3], decided.Select(o => o.Attempt));
        Assert.Equal([false, false, true], decided.Select(o => o.IsLast));
        Assert.All(decided, o => Assert.Equal(3, o.MaxAttempts));
    }

    [Fact]
    public async Task Exhausted_it_rethrows_the_last_error_with_its_own_stack()
    {
        var clock = new SteppedClock();
        var errors = new List<string?>();

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => clock.DriveAsync(Retry.RunAsync<int>(
            Fixed,
            clock,
            (n, _) => throw new InvalidOperationException($"failure {n}"),
            o =>
            {
                errors.Add(o.Error?.Message);
                return Always(o);
            },
            Ct)));

        Assert.Equal("failure 3", e.Message);
        Assert.Equal(["failure 1", "failure 2", "failure 3"], errors);
        Assert.Contains(nameof(Exhausted_it_rethrows_the_last_error_with_its_own_stack), e.StackTrace, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_error_then_a_success_returns_the_success()
    {
        var clock = new SteppedClock();

        var result = await clock.DriveAsync(Retry.RunAsync(
            Fixed,
            clock,
            (n, _) => n == 1 ? throw new IOException("flaky") : Task.FromResult("ok"),
            o => new ValueTask<RetryDecision>(o.Error is IOException ? RetryDecision.Retry("io") : RetryDecision.Stop),
            Ct));

        Assert.Equal("ok", result);
    }

    [Fact]
    public async Task A_decision_may_throw_its_own_error_on_the_last_outcome()
    {
        var clock = new SteppedClock();

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => clock.DriveAsync(Retry.RunAsync(
            Fixed,
            clock,
            (n, _) => Task.FromResult(n),
            o => o.IsLast ? throw new ImmutableBuildException("IMB2099", "gave up") : Always(o),
            Ct)));

        Assert.Equal("IMB2099", e.Code);
        Assert.Equal(2, clock.Waits.Count);
    }

    [Fact]
    public async Task Retried_disposable_results_are_disposed_and_the_returned_one_is_not()
    {
        var clock = new SteppedClock();
        var made = new List<Disposable>();

        var result = await clock.DriveAsync(Retry.RunAsync(
            Fixed,
            clock,
            (_, _) =>
            {
                var d = new Disposable();
                made.Add(d);
                return Task.FromResult(d);
            },
            Always,
            Ct));

        Assert.Equal(3, made.Count);
        Assert.Same(made[2], result);
        Assert.Equal([true, true, false], made.Select(d => d.Disposed));
    }

    [Fact]
    public async Task A_result_kept_by_Stop_is_not_disposed()
    {
        var clock = new SteppedClock();

        var result = await clock.DriveAsync(Retry.RunAsync(Fixed, clock, (_, _) => Task.FromResult(new Disposable()), _ => new ValueTask<RetryDecision>(RetryDecision.Stop), Ct));

        Assert.False(result.Disposed);
    }

    [Fact]
    public async Task A_decision_with_a_delay_waits_that_long_instead_of_the_backoff()
    {
        var clock = new SteppedClock();
        var reported = new List<(int Attempt, TimeSpan Delay, string Reason)>();

        await clock.DriveAsync(Retry.RunAsync(
            Fixed,
            clock,
            (n, _) => Task.FromResult(n),
            o => new ValueTask<RetryDecision>(RetryDecision.Retry("Retry-After", TimeSpan.FromSeconds(7))),
            Ct,
            (o, delay, reason) => reported.Add((o.Attempt, delay, reason))));

        Assert.Equal([TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(7)], clock.Waits);
        Assert.Equal(TimeSpan.FromSeconds(14), clock.Elapsed);
        Assert.Equal([(1, TimeSpan.FromSeconds(7), "Retry-After"), (2, TimeSpan.FromSeconds(7), "Retry-After")], reported);
    }

    [Fact]
    public async Task A_negative_delay_from_a_past_Retry_After_date_retries_at_once()
    {
        var clock = new SteppedClock();
        var reported = new List<TimeSpan>();

        var result = await clock.DriveAsync(Retry.RunAsync(
            Fixed,
            clock,
            (n, _) => Task.FromResult(n),
            o => new ValueTask<RetryDecision>(RetryDecision.Retry("Retry-After", o.Attempt == 1 ? TimeSpan.FromMilliseconds(-1) : TimeSpan.FromSeconds(-30))),
            Ct,
            (_, delay, _) => reported.Add(delay)));

        Assert.Equal(3, result);
        Assert.Equal([TimeSpan.Zero, TimeSpan.Zero], reported);
        Assert.Equal(TimeSpan.Zero, clock.Elapsed);
    }

    [Fact]
    public async Task Without_a_delay_it_waits_the_policy_backoff()
    {
        var clock = new SteppedClock();

        await clock.DriveAsync(Retry.RunAsync(Fixed with { MaxAttempts = 4 }, clock, (n, _) => Task.FromResult(n), Always, Ct));

        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)], clock.Waits);
    }

    [Fact]
    public async Task A_schedule_fixes_both_the_waits_and_the_number_of_attempts()
    {
        var clock = new SteppedClock();
        var attempts = 0;
        var schedule = RetryPolicy.FromSchedule([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)]);

        await Assert.ThrowsAsync<TimeoutException>(() => clock.DriveAsync(Retry.RunAsync<int>(
            schedule,
            clock,
            (_, _) =>
            {
                attempts++;
                throw new TimeoutException("host away");
            },
            Always,
            Ct)));

        Assert.Equal(4, attempts);
        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)], clock.Waits);
    }

    [Fact]
    public async Task The_retry_report_names_the_reason_else_the_error()
    {
        var clock = new SteppedClock();
        var reasons = new List<string>();

        await Assert.ThrowsAsync<IOException>(() => clock.DriveAsync(Retry.RunAsync<int>(
            Fixed,
            clock,
            (n, _) => throw new IOException($"reset {n}"),
            o => new ValueTask<RetryDecision>(new RetryDecision(true, null, o.Attempt == 1 ? "first" : null)),
            Ct,
            (_, _, reason) => reasons.Add(reason))));

        Assert.Equal(["first", "reset 2"], reasons);
    }

    [Fact]
    public async Task RetryPolicy_None_attempts_once_whatever_the_decision()
    {
        var clock = new SteppedClock();
        var attempts = 0;

        var result = await clock.DriveAsync(Retry.RunAsync(RetryPolicy.None, clock, (_, _) => Task.FromResult(++attempts), Always, Ct));

        Assert.Equal(1, result);
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task Cancellation_of_the_callers_token_is_never_retried_nor_decided()
    {
        var clock = new SteppedClock();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var attempts = 0;
        var decisions = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => clock.DriveAsync(Retry.RunAsync<int>(
            Fixed,
            clock,
            (_, token) =>
            {
                attempts++;
                cts.Cancel();
                token.ThrowIfCancellationRequested();
                return Task.FromResult(0);
            },
            o =>
            {
                decisions++;
                return Always(o);
            },
            cts.Token)));

        Assert.Equal(1, attempts);
        Assert.Equal(0, decisions);
        Assert.Empty(clock.Waits);
    }

    [Fact]
    public async Task A_cancellation_that_is_not_the_callers_is_an_error_like_any_other()
    {
        // HttpClient's own timeout surfaces as TaskCanceledException while the caller's token is untouched.
        var clock = new SteppedClock();
        var attempts = 0;

        var result = await clock.DriveAsync(Retry.RunAsync(
            Fixed,
            clock,
            (_, _) => ++attempts == 1 ? throw new TaskCanceledException("timed out") : Task.FromResult("answered"),
            o => new ValueTask<RetryDecision>(o.Error is TaskCanceledException ? RetryDecision.Retry("timeout") : RetryDecision.Stop),
            Ct));

        Assert.Equal("answered", result);
        Assert.Equal(2, attempts);
    }

    [Fact]
    public async Task Cancellation_during_the_wait_ends_the_loop()
    {
        var clock = new SteppedClock();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var attempts = 0;

        var running = Retry.RunAsync(Fixed, clock, (_, _) => Task.FromResult(++attempts), Always, cts.Token);
        Assert.Equal(TimeSpan.FromSeconds(1), await clock.NextWaitAsync());
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task A_policy_out_of_range_is_refused_before_any_attempt()
    {
        var attempts = 0;

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Retry.RunAsync(
            new RetryPolicy { MaxAttempts = 0 },
            new SteppedClock(),
            (_, _) => Task.FromResult(++attempts),
            Always,
            Ct));

        Assert.Equal(0, attempts);
    }

    private sealed class Disposable : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }
}
