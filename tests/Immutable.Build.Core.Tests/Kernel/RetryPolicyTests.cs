namespace Immutable.Build.Core.Tests.Kernel;

/// <summary>The waits a retry policy asks for: doubling, capped, spread by jitter, or a fixed schedule.</summary>
public sealed class RetryPolicyTests
{
    private static readonly RetryPolicy Plain = new() { BaseDelay = TimeSpan.FromMilliseconds(500), MaxDelay = TimeSpan.FromSeconds(30), Jitter = false };

    [Fact]
    public void The_defaults_are_three_attempts_from_half_a_second_up_to_thirty_with_jitter()
    {
        var policy = new RetryPolicy();

        Assert.Equal(3, policy.MaxAttempts);
        Assert.Equal(TimeSpan.FromMilliseconds(500), policy.BaseDelay);
        Assert.Equal(TimeSpan.FromSeconds(30), policy.MaxDelay);
        Assert.True(policy.Jitter);
        Assert.Null(policy.Schedule);
        Assert.Equal(1, RetryPolicy.None.MaxAttempts);
    }

    [Fact]
    public void Without_jitter_the_wait_doubles_per_attempt()
    {
        Assert.Equal(
            [500, 1000, 2000, 4000, 8000, 16000],
            Enumerable.Range(1, 6).Select(n => Plain.DelayAfter(n).TotalMilliseconds));
    }

    [Fact]
    public void The_wait_is_capped_at_MaxDelay_even_for_a_huge_attempt_number()
    {
        Assert.Equal(TimeSpan.FromSeconds(30), Plain.DelayAfter(7)); // 32 s uncapped
        Assert.Equal(TimeSpan.FromSeconds(30), Plain.DelayAfter(1_000));
        Assert.Equal(TimeSpan.FromSeconds(30), Plain.DelayAfter(int.MaxValue));
        Assert.Equal(TimeSpan.FromSeconds(2), (Plain with { MaxDelay = TimeSpan.FromSeconds(2) }).DelayAfter(4));
    }

    [Fact]
    public void Jitter_spreads_each_wait_between_half_and_all_of_the_backoff_and_never_past_MaxDelay()
    {
        var policy = Plain with { Jitter = true };
        for (var attempt = 1; attempt <= 8; attempt++)
        {
            var plain = Plain.DelayAfter(attempt).TotalMilliseconds;
            var samples = Enumerable.Range(0, 500).Select(_ => policy.DelayAfter(attempt).TotalMilliseconds).ToList();

            Assert.All(samples, ms => Assert.InRange(ms, plain * 0.5, Math.Min(plain, policy.MaxDelay.TotalMilliseconds)));
            // Spread, not fixed: 500 draws that all agree would mean no jitter at all.
            Assert.True(samples.Distinct().Count() > 1, $"attempt {attempt}: no spread");
        }
    }

    [Fact]
    public void A_schedule_gives_its_waits_in_order_then_repeats_the_last()
    {
        var policy = RetryPolicy.FromSchedule([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)]);

        Assert.Equal(4, policy.MaxAttempts);
        Assert.False(policy.Jitter);
        Assert.Equal(
            [1, 2, 4, 4],
            Enumerable.Range(1, 4).Select(n => policy.DelayAfter(n).TotalSeconds));
    }

    [Fact]
    public void A_schedule_is_not_spread_even_if_jitter_is_set_again()
    {
        var policy = RetryPolicy.FromSchedule([TimeSpan.FromSeconds(3)]) with { Jitter = true };

        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal(TimeSpan.FromSeconds(3), policy.DelayAfter(1)));
    }

    [Fact]
    public void Attempt_numbers_start_at_one()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Plain.DelayAfter(0));
    }

    [Fact]
    public void Validate_refuses_values_out_of_range()
    {
        new RetryPolicy().Validate();
        Assert.Throws<ArgumentOutOfRangeException>(() => new RetryPolicy { MaxAttempts = 0 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new RetryPolicy { BaseDelay = TimeSpan.FromSeconds(-1) }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new RetryPolicy { MaxDelay = TimeSpan.FromSeconds(-1) }.Validate());
    }
}
