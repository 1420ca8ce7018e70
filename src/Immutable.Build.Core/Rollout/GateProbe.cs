using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>The HttpClient gates share when none is given: pooled connections, no client-wide timeout (each probe has its own).</summary>
internal static class GateHttp
{
    public static HttpClient Shared { get; } = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2), AllowAutoRedirect = false })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Joins an instance address and a path whatever slashes each has, keeping any path prefix of the address.</summary>
    public static Uri Combine(Uri address, string path) => new(address.AbsoluteUri.TrimEnd('/') + "/" + path.TrimStart('/'));
}

/// <summary>What a gate makes of one answer of an instance.</summary>
internal enum ProbeVerdict
{
    /// <summary>Not (yet) what the gate wants; ask again after the interval.</summary>
    Again,

    /// <summary>A good answer; the instance passes once enough come in a row.</summary>
    Good,

    /// <summary>A definitive failure: asking again would not change it.</summary>
    Failed,
}

/// <summary>One answer judged, with the text a failure message quotes.</summary>
internal readonly record struct ProbeAnswer(ProbeVerdict Verdict, string Detail);

/// <summary>How a gate probes: its timeout, interval, per-request timeout and how many good answers in a row it needs.</summary>
internal readonly record struct ProbeTiming(TimeSpan Timeout, TimeSpan Interval, TimeSpan RequestTimeout, int Consecutive = 1);

/// <summary>
/// The probe loop of the HTTP gates: asks one instance at once and then every interval, on the gate's clock, until
/// it gave enough good answers in a row, gave a definitive failure, or the timeout passed. A request that fails or
/// takes longer than its own timeout counts as "ask again" and breaks the streak.
/// </summary>
internal static class GateProbe
{
    /// <returns>Null when the instance passed; otherwise the last answer (<see cref="ProbeVerdict.Again"/> or <see cref="ProbeVerdict.Good"/>: the timeout passed).</returns>
    public static async Task<ProbeAnswer?> RunAsync(
        HttpClient http,
        Uri url,
        HttpCompletionOption completion,
        ProbeTiming timing,
        TimeProvider time,
        Func<HttpResponseMessage, CancellationToken, ValueTask<ProbeAnswer>> judge,
        CancellationToken cancellationToken)
    {
        var last = new ProbeAnswer(ProbeVerdict.Again, "no answer");
        var streak = 0;
        var decided = await Wait.UntilAsync(
            async ct =>
            {
                using var expiry = new CancellationTokenSource(timing.RequestTimeout, time);
                using var request = CancellationTokenSource.CreateLinkedTokenSource(ct, expiry.Token);
                try
                {
                    using var response = await http.GetAsync(url, completion, request.Token);
                    last = await judge(response, request.Token);
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
                {
                    last = new ProbeAnswer(ProbeVerdict.Again, $"{url}: {(e is OperationCanceledException ? "timed out" : e.Message)}");
                }

                streak = last.Verdict == ProbeVerdict.Good ? streak + 1 : 0;
                return last.Verdict == ProbeVerdict.Failed || streak >= timing.Consecutive;
            },
            timing.Timeout,
            timing.Interval,
            time,
            cancellationToken);
        return decided && last.Verdict == ProbeVerdict.Good ? null : last;
    }

    /// <summary>Probes every instance at once; the failures, one text per failed instance.</summary>
    public static async Task<List<string>> FailuresAsync(IReadOnlyList<InstanceInfo> instances, Func<InstanceInfo, Task<string?>> probe)
    {
        var results = await Task.WhenAll(instances.Select(probe));
        return results.Where(r => r is not null).Select(r => r!).ToList();
    }
}
