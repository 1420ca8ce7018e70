namespace Immutable.Build;

/// <summary>
/// The one way this code waits for something to become true: poll on a <see cref="TimeProvider"/> until a
/// deadline, so tests drive waits with a fake clock and no loop keeps its own notion of time.
/// </summary>
public static class Wait
{
    /// <summary>
    /// Polls <paramref name="condition"/> (at once, then every <paramref name="interval"/>) until it is true or
    /// <paramref name="timeout"/> has passed. The condition is always tried at least once.
    /// </summary>
    /// <returns>True when the condition held, false on timeout.</returns>
    public static async Task<bool> UntilAsync(Func<CancellationToken, ValueTask<bool>> condition, TimeSpan timeout, TimeSpan interval, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentNullException.ThrowIfNull(time);
        var deadline = time.GetUtcNow() + timeout;
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
