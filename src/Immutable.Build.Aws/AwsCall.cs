using System.Net;
using Amazon.Runtime;

namespace Immutable.Build.Aws;

/// <summary>
/// Runs one AWS call with bounded retries on throttling, capacity and server errors, and turns what is left into
/// IMB8002/IMB8003 naming the call and AWS's error code. Messages carry AWS's own text, which never holds the
/// credentials; the request (user data included) is never echoed.
/// </summary>
internal sealed class AwsCall(Ec2TargetOptions options)
{
    private static readonly HashSet<string> Throttling = new(StringComparer.Ordinal)
    {
        "RequestLimitExceeded", "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException", "RequestThrottled", "SlowDown",
    };

    private static readonly HashSet<string> Capacity = new(StringComparer.Ordinal)
    {
        "InsufficientInstanceCapacity", "InsufficientCapacity", "InsufficientHostCapacity",
    };

    /// <summary>Whether a failure is worth another attempt.</summary>
    public static bool IsTransient(Exception error) => error switch
    {
        AmazonServiceException s when s.ErrorCode is { } code && (Throttling.Contains(code) || Capacity.Contains(code)) => true,
        AmazonServiceException s when (int)s.StatusCode >= 500 => true,
        Elb.ElbException e => e.Code is { } code && Throttling.Contains(code) || (int)e.Status >= 500,
        HttpRequestException => true,
        AmazonClientException { InnerException: HttpRequestException } => true,
        _ => false,
    };

    /// <summary>Runs <paramref name="call"/> (named like the API action, e.g. RunInstances) with retries.</summary>
    public async Task<T> RunAsync<T>(string name, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await Retry.RunAsync(
                options.Retries,
                options.Time,
                (_, ct) => call(ct),
                outcome => ValueTask.FromResult(outcome.Error is { } e && IsTransient(e) ? RetryDecision.Retry($"{name}: {Reason(e)}.") : RetryDecision.Stop),
                cancellationToken,
                (_, delay, reason) => options.Log($"{reason} Trying again in {delay.TotalSeconds:0.#}s."));
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or Elb.ElbException or HttpRequestException)
        {
            throw Error(name, e, options.Retries.MaxAttempts);
        }
    }

    /// <summary>Runs a call that returns nothing.</summary>
    public Task RunAsync(string name, Func<CancellationToken, Task> call, CancellationToken cancellationToken) =>
        RunAsync<bool>(name, async ct =>
        {
            await call(ct);
            return true;
        }, cancellationToken);

    /// <summary>The AWS error code of a failure, or null.</summary>
    public static string? CodeOf(Exception error) => error switch
    {
        ImmutableBuildException { InnerException: { } inner } => CodeOf(inner),
        AmazonServiceException s => s.ErrorCode,
        Elb.ElbException e => e.Code,
        _ => null,
    };

    private static ImmutableBuildException Error(string name, Exception e, int attempts)
    {
        var code = CodeOf(e);
        var busy = code is not null && (Throttling.Contains(code) || Capacity.Contains(code));
        return new ImmutableBuildException(
            busy ? AwsErrors.BusyCode : AwsErrors.CallCode,
            busy
                ? $"AWS {name} was refused with {code} {attempts} times: {Sentence.End(Reason(e))} {(Capacity.Contains(code!) ? "Choose another instance type (ImmutableAwsInstanceType) or add subnets in other zones (ImmutableAwsSubnets), or run again later." : "Run again later.")}"
                : $"AWS {name} failed: {Sentence.End(Reason(e))}",
            e);
    }

    private static string Reason(Exception e) => e switch
    {
        AmazonServiceException s => $"{s.ErrorCode ?? ((int)s.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture)}{(string.IsNullOrWhiteSpace(s.Message) ? "" : ": " + s.Message)}",
        Elb.ElbException x => x.Message,
        HttpRequestException h => $"the endpoint did not answer ({h.Message})",
        AmazonClientException { InnerException: HttpRequestException h } => $"the endpoint did not answer ({h.Message})",
        _ => e.Message,
    };

    /// <summary>Whether a failure (or the AWS error inside an IMB8002) says the resource does not exist.</summary>
    internal static bool IsNotFound(Exception e) => e is ImmutableBuildException { InnerException: { } inner } ? IsNotFound(inner) : CodeOf(e) is { } code && code.Contains("NotFound", StringComparison.Ordinal) ||
        e is AmazonServiceException { StatusCode: HttpStatusCode.NotFound };
}
