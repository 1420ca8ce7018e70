namespace Immutable.Build;

/// <summary>
/// How often to try an idempotent call again and how long to wait in between: exponential backoff from
/// <see cref="BaseDelay"/> up to <see cref="MaxDelay"/> with jitter, or a fixed <see cref="Schedule"/>.
/// </summary>
public sealed record RetryPolicy
{
    /// <summary>A single attempt: no retry.</summary>
    public static RetryPolicy None { get; } = new() { MaxAttempts = 1 };

    /// <summary>Attempts in all, the first included; at least 1.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Wait before the second attempt; it doubles per attempt.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Upper bound of one wait.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>"Equal jitter": each wait is half fixed, half random (between half and all of the backoff), so many clients failing together do not retry together.</summary>
    public bool Jitter { get; init; } = true;

    /// <summary>Fixed waits before attempts 2, 3, ...; when set, it also fixes <see cref="MaxAttempts"/> (see <see cref="FromSchedule"/>).</summary>
    public IReadOnlyList<TimeSpan>? Schedule { get; init; }

    /// <summary>A policy that waits exactly <paramref name="delays"/> between attempts, without jitter.</summary>
    public static RetryPolicy FromSchedule(IReadOnlyList<TimeSpan> delays)
    {
        ArgumentNullException.ThrowIfNull(delays);
        return new RetryPolicy { Schedule = delays, MaxAttempts = delays.Count + 1, Jitter = false };
    }

    /// <summary>The wait after failed attempt <paramref name="attempt"/> (1-based) before the next one.</summary>
    public TimeSpan DelayAfter(int attempt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        if (Schedule is { Count: > 0 } schedule)
        {
            return schedule[Math.Min(attempt, schedule.Count) - 1];
        }

        var exponential = BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30));
        var capped = Math.Min(exponential, MaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(Jitter ? (capped / 2) + (capped / 2 * Random.Shared.NextDouble()) : capped);
    }

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAttempts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(BaseDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDelay, TimeSpan.Zero);
    }
}
