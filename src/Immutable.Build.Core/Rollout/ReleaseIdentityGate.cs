using System.Text.Json;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>Settings of <see cref="ReleaseIdentityGate"/>.</summary>
public sealed record ReleaseIdentityGateOptions
{
    /// <summary>The path that reports the instance's release as JSON with a <c>releaseId</c> property.</summary>
    public string Path { get; init; } = "/version";

    /// <summary>How long an instance may take to answer at all.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Time between attempts while an instance does not answer.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long one request may take.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// True: every instance must answer the path. False (auto): when every instance answers it 404, the app has no
    /// version endpoint and the gate passes with warning IMB6020, since there is nothing to check against.
    /// </summary>
    public bool Required { get; init; }
}

/// <summary>
/// Every instance must report the release being rolled out. It catches what a health check cannot: a target that
/// started the wrong image, or a port answered by a stale process of an earlier release.
/// </summary>
public sealed class ReleaseIdentityGate : IRolloutGate
{
    private readonly ReleaseIdentityGateOptions _options;
    private readonly HttpClient _http;

    /// <summary>Creates the gate; <paramref name="http"/> defaults to a shared client.</summary>
    public ReleaseIdentityGate(ReleaseIdentityGateOptions? options = null, HttpClient? http = null)
    {
        _options = options ?? new ReleaseIdentityGateOptions();
        if (!_options.Path.StartsWith('/'))
        {
            throw new ImmutableBuildException(RolloutErrors.InvalidGate, $"The version path '{_options.Path}' must start with '/', e.g. /version.");
        }

        _http = http ?? GateHttp.Shared;
    }

    /// <inheritdoc />
    public string Name => $"release identity {_options.Path}";

    /// <inheritdoc />
    public async Task<GateResult> EvaluateAsync(GateContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Instances.Count == 0)
        {
            return new GateResult(Name, GateVerdict.Failed, "the group has no instances");
        }

        var missing = 0;
        var wrong = await GateProbe.FailuresAsync(context.Instances, async i =>
        {
            var (failure, noEndpoint) = await CheckAsync(i, context.Release.ReleaseId, context.Time, cancellationToken);
            if (noEndpoint)
            {
                Interlocked.Increment(ref missing);
            }

            return failure;
        });
        if (wrong.Count == 0)
        {
            return new GateResult(Name, GateVerdict.Passed, $"{context.Instances.Count} instance(s) report release {context.Release.ReleaseId}");
        }

        // Only when no instance has the endpoint: one that has it while another does not runs something else.
        if (!_options.Required && missing == context.Instances.Count)
        {
            var skipped = $"the app answers {_options.Path} with 404, so which release the instances run is not checked; serve {{\"releaseId\": \"<IMMUTABLE_RELEASE_ID>\"}} at {_options.Path} to have it checked, or set ImmutableCheckReleaseIdentity=false to say it is not wanted";
            return new GateResult(Name, GateVerdict.Passed, "skipped: " + skipped) { Warning = new GateWarning(RolloutErrors.IdentityNotChecked, skipped) };
        }

        return new GateResult(Name, GateVerdict.Failed, $"{string.Join("; ", wrong.Take(3))} (ImmutableCheckReleaseIdentity=false turns this check off)");
    }

    private async Task<(string? Failure, bool NoEndpoint)> CheckAsync(InstanceInfo instance, string expected, TimeProvider time, CancellationToken cancellationToken)
    {
        var noEndpoint = false;
        var url = GateHttp.Combine(instance.Address, _options.Path);
        var failure = await GateProbe.RunAsync(
            _http,
            url,
            HttpCompletionOption.ResponseContentRead,
            new ProbeTiming(_options.Timeout, _options.Interval, _options.RequestTimeout),
            time,
            async (response, ct) =>
            {
                if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
                {
                    // The app answers but has no such endpoint: waiting would not make one appear.
                    noEndpoint = true;
                    return new ProbeAnswer(ProbeVerdict.Failed, $"{instance.Id}: {url} answered 404{(_options.Required ? $", but ImmutableCheckReleaseIdentity=true needs {_options.Path} to report the release" : "")}");
                }

                if (!response.IsSuccessStatusCode)
                {
                    return new ProbeAnswer(ProbeVerdict.Again, $"{url} answered {(int)response.StatusCode}");
                }

                var reported = ReadReleaseId(await response.Content.ReadAsByteArrayAsync(ct));
                // A wrong answer is definitive: waiting longer would not change which image runs.
                return reported == expected
                    ? new ProbeAnswer(ProbeVerdict.Good, $"{url} reports release '{reported}'")
                    : new ProbeAnswer(ProbeVerdict.Failed, $"{instance.Id} at {url} reports release '{reported ?? "(none)"}', expected '{expected}'");
            },
            cancellationToken);
        return (failure switch
        {
            null => null,
            { Verdict: ProbeVerdict.Failed } wrong => wrong.Detail,
            { } last => $"{instance.Id}: no answer within {_options.Timeout.TotalSeconds:0.#}s; last: {last.Detail}",
        }, noEndpoint);
    }

    private static string? ReadReleaseId(byte[] body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("releaseId", out var id)
                && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
