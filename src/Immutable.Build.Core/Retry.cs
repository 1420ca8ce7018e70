using System.Runtime.ExceptionServices;

namespace Immutable.Build;

/// <summary>What one attempt gave: a result or an exception, and whether it was the last one allowed.</summary>
/// <typeparam name="T">The attempt's result.</typeparam>
public readonly record struct RetryOutcome<T>(int Attempt, int MaxAttempts, T? Result, Exception? Error)
{
    /// <summary>No attempt follows this one, whatever the decision.</summary>
    public bool IsLast => Attempt >= MaxAttempts;
}

/// <summary>Whether to try again, after how long (null: the policy's backoff), and why (for the log line).</summary>
public readonly record struct RetryDecision(bool Again, TimeSpan? Delay, string? Reason)
{
    /// <summary>Keep this outcome: return its result or rethrow its exception.</summary>
    public static RetryDecision Stop { get; } = new(false, null, null);

    /// <summary>Try again after <paramref name="delay"/>, or after the policy's backoff when null.</summary>
    public static RetryDecision Retry(string reason, TimeSpan? delay = null) => new(true, delay, reason);
}

/// <summary>
/// The one retry loop of this code (registry calls, Docker host calls). Written here rather than taken from
/// Polly because Core loads into every <c>dotnet publish</c>: the two shapes it needs (backoff honouring a
/// server's Retry-After, and a fixed schedule) are a few lines, and an extra assembly would cost each build.
/// </summary>
public static class Retry
{
    /// <summary>
    /// Runs <paramref name="attempt"/> until <paramref name="decide"/> says stop or the policy's attempts are
    /// used up; then returns the last result or rethrows the last exception. A result that is retried and is
    /// <see cref="IDisposable"/> is disposed. Cancellation is never retried. <paramref name="decide"/> may
    /// throw its own error, e.g. a coded one on the last outcome.
    /// </summary>
    public static async Task<T> RunAsync<T>(
        RetryPolicy policy,
        TimeProvider time,
        Func<int, CancellationToken, Task<T>> attempt,
        Func<RetryOutcome<T>, ValueTask<RetryDecision>> decide,
        CancellationToken cancellationToken,
        Action<RetryOutcome<T>, TimeSpan, string>? onRetry = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(attempt);
        ArgumentNullException.ThrowIfNull(decide);
        policy.Validate();
        for (var n = 1; ; n++)
        {
            RetryOutcome<T> outcome;
            try
            {
                outcome = new RetryOutcome<T>(n, policy.MaxAttempts, await attempt(n, cancellationToken), null);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e)
            {
                outcome = new RetryOutcome<T>(n, policy.MaxAttempts, default, e);
            }

            var decision = await decide(outcome);
            if (!decision.Again || outcome.IsLast)
            {
                if (outcome.Error is not null)
                {
                    ExceptionDispatchInfo.Capture(outcome.Error).Throw();
                }

                return outcome.Result!;
            }

            (outcome.Result as IDisposable)?.Dispose();
            // A server's Retry-After date already past gives a negative delay; Task.Delay would throw, or wait forever at -1 ms.
            var delay = decision.Delay ?? policy.DelayAfter(n);
            if (delay < TimeSpan.Zero)
            {
                delay = TimeSpan.Zero;
            }

            onRetry?.Invoke(outcome, delay, decision.Reason ?? outcome.Error?.Message ?? "failed");
            await Task.Delay(delay, time, cancellationToken);
        }
    }
}
