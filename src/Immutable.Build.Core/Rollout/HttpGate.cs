using System.Net;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>Settings of <see cref="HttpGate"/>.</summary>
public sealed record HttpGateOptions
{
    /// <summary>The path probed on every instance.</summary>
    public string Path { get; init; } = "/healthz";

    /// <summary>The status that counts as healthy.</summary>
    public HttpStatusCode ExpectedStatus { get; init; } = HttpStatusCode.OK;

    /// <summary>How many healthy answers in a row each instance must give; one is not enough to tell a starting app from a stable one.</summary>
    public int ConsecutiveSuccesses { get; init; } = 2;

    /// <summary>How long an instance may take to reach the streak.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Time between probes of one instance.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long one probe may take.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Every instance of the group must answer <see cref="HttpGateOptions.Path"/> with the expected status, several times
/// in a row. A 404 fails at once (the path is wrong, waiting cannot help); any other answer is asked again until the timeout.
/// </summary>
public sealed class HttpGate : IRolloutGate
{
    private readonly HttpGateOptions _options;
    private readonly HttpClient _http;

    /// <summary>Creates the gate; <paramref name="http"/> defaults to a shared client.</summary>
    public HttpGate(HttpGateOptions? options = null, HttpClient? http = null)
    {
        _options = options ?? new HttpGateOptions();
        if (!_options.Path.StartsWith('/'))
        {
            throw new ImmutableBuildException(RolloutErrors.InvalidGate, $"The health path '{_options.Path}' must start with '/', e.g. /healthz.");
        }

        if (_options.ConsecutiveSuccesses < 1)
        {
            throw RolloutErrors.Value("ImmutableHealthConsecutive", _options.ConsecutiveSuccesses.ToString(System.Globalization.CultureInfo.InvariantCulture), "a whole number of at least 1");
        }

        _http = http ?? GateHttp.Shared;
    }

    /// <inheritdoc />
    public string Name => $"http {_options.Path}";

    /// <inheritdoc />
    public async Task<GateResult> EvaluateAsync(GateContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Instances.Count == 0)
        {
            return new GateResult(Name, GateVerdict.Failed, "the group has no instances");
        }

        var failed = await GateProbe.FailuresAsync(context.Instances, i => ProbeAsync(i, context.Time, cancellationToken));
        return failed.Count == 0
            ? new GateResult(Name, GateVerdict.Passed, $"{context.Instances.Count} instance(s) answered {(int)_options.ExpectedStatus} {_options.ConsecutiveSuccesses}x in a row")
            : new GateResult(Name, GateVerdict.Failed, $"{failed.Count}/{context.Instances.Count} instance(s) not healthy: {string.Join("; ", failed.Take(3))}");
    }

    private async Task<string?> ProbeAsync(InstanceInfo instance, TimeProvider time, CancellationToken cancellationToken)
    {
        var url = GateHttp.Combine(instance.Address, _options.Path);
        var timing = new ProbeTiming(_options.Timeout, _options.Interval, _options.RequestTimeout, _options.ConsecutiveSuccesses);
        var failure = await GateProbe.RunAsync(
            _http,
            url,
            HttpCompletionOption.ResponseHeadersRead,
            timing,
            time,
            (response, _) => new ValueTask<ProbeAnswer>(Judge(url, response.StatusCode)),
            cancellationToken);
        return failure switch
        {
            null => null,
            { Verdict: ProbeVerdict.Failed } missing => $"{instance.Id}: {missing.Detail}",
            { } last => $"{instance.Id}: no healthy answer within {_options.Timeout.TotalSeconds:0.#}s (ImmutableHealthTimeout); last: {last.Detail}",
        };
    }

    private ProbeAnswer Judge(Uri url, HttpStatusCode status)
    {
        if (status == _options.ExpectedStatus)
        {
            return new ProbeAnswer(ProbeVerdict.Good, $"{url} answered {(int)status}");
        }

        // The app answers, but has no such endpoint: no wait makes one appear, so the gate says which property is wrong at once.
        return status == HttpStatusCode.NotFound
            ? new ProbeAnswer(ProbeVerdict.Failed, $"{url} answered 404: the app has no endpoint at {_options.Path}; set ImmutableHealthPath to its health endpoint (e.g. /health)")
            : new ProbeAnswer(ProbeVerdict.Again, $"{url} answered {(int)status}");
    }
}
