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

        var results = await Task.WhenAll(context.Instances.Select(i => CheckAsync(i, context.Release.ReleaseId, context.Time, cancellationToken)));
        var wrong = results.Where(r => r is not null).ToList();
        return wrong.Count == 0
            ? new GateResult(Name, GateVerdict.Passed, $"{context.Instances.Count} instance(s) report release {context.Release.ReleaseId}")
            : new GateResult(Name, GateVerdict.Failed, string.Join("; ", wrong.Take(3)));
    }

    private async Task<string?> CheckAsync(InstanceInfo instance, string expected, TimeProvider time, CancellationToken cancellationToken)
    {
        var url = GateHttp.Combine(instance.Address, _options.Path);
        var deadline = time.GetUtcNow() + _options.Timeout;
        while (true)
        {
            string problem;
            using (var request = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                request.CancelAfter(_options.RequestTimeout);
                try
                {
                    using var response = await _http.GetAsync(url, request.Token);
                    if (response.IsSuccessStatusCode)
                    {
                        var body = await response.Content.ReadAsByteArrayAsync(request.Token);
                        var reported = ReadReleaseId(body);
                        // A wrong answer is definitive: waiting longer would not change which image runs.
                        return reported == expected ? null : $"{instance.Id} at {url} reports release '{reported ?? "(none)"}', expected '{expected}'";
                    }

                    problem = $"{url} answered {(int)response.StatusCode}";
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    problem = $"{url}: {(e is OperationCanceledException ? "timed out" : e.Message)}";
                }
            }

            if (time.GetUtcNow() + _options.Interval > deadline)
            {
                return $"{instance.Id}: {problem}";
            }

            await Task.Delay(_options.Interval, time, cancellationToken);
        }
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
