namespace Immutable.Build;

/// <summary>
/// The one way this code waits for something to become true: poll on a <see cref="TimeProvider"/> until a
/// deadline, so tests drive waits with a fake clock and no loop keeps its own notion of time.
/// </summary>
public static class Wait
{
    private static readonly TimeSpan MinimumInterval = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// Polls <paramref name="condition"/> (at once, then every <paramref name="interval"/>) until it is true or
    /// <paramref name="timeout"/> has passed. The condition is always tried at least once.
    /// </summary>
    /// <remarks><see cref="Timeout.InfiniteTimeSpan"/> (or a timeout too long for the calendar) waits until the condition holds or the token is cancelled.</remarks>
    /// <returns>True when the condition held, false on timeout.</returns>
    public static async Task<bool> UntilAsync(Func<CancellationToken, ValueTask<bool>> condition, TimeSpan timeout, TimeSpan interval, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentNullException.ThrowIfNull(time);

        // A zero interval would spin without letting a fake clock move; a negative one is Task.Delay's "forever" (or throws).
        if (interval <= TimeSpan.Zero)
        {
            interval = MinimumInterval;
        }

        var start = time.GetUtcNow();
        var deadline = timeout == Timeout.InfiniteTimeSpan || timeout >= DateTimeOffset.MaxValue - start ? DateTimeOffset.MaxValue : start + timeout;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (await condition(cancellationToken))
            {
                return true;
            }

            var left = deadline - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            await Task.Delay(left < interval ? left : interval, time, cancellationToken);
        }
    }

    /// <summary>Polls <paramref name="probe"/> until it returns a value; null on timeout.</summary>
    public static async Task<T?> ForAsync<T>(Func<CancellationToken, ValueTask<T?>> probe, TimeSpan timeout, TimeSpan interval, TimeProvider time, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(probe);
        T? found = null;
        await UntilAsync(async ct => (found = await probe(ct)) is not null, timeout, interval, time, cancellationToken);
        return found;
    }
}
