using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Immutable.Build.Rollout;

/// <summary>Settings of <see cref="PrometheusGate"/>.</summary>
public sealed record PrometheusGateOptions
{
    /// <summary>The Prometheus server, e.g. http://127.0.0.1:9090 (a path prefix is kept).</summary>
    public required Uri Server { get; init; }

    /// <summary>PromQL; <c>{release}</c>, <c>{group}</c>, <c>{app}</c> and <c>{environment}</c> are replaced before it is sent.</summary>
    public required string Query { get; init; }

    /// <summary>What the value must satisfy: an operator (&lt;, &lt;=, &gt;, &gt;=, ==, !=) and a number, e.g. <c>&lt; 0.01</c>.</summary>
    public required string Condition { get; init; }

    /// <summary>Time between evaluations within the window.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether a window with no data at all lets the rollout go on. Off by default: a query that never matches
    /// (a typo in a label) must not pass every release.
    /// </summary>
    public bool PassWhenNoData { get; init; }

    /// <summary>How long one query may take.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Evaluates an instant PromQL query repeatedly over the analysis window through the Prometheus HTTP API
/// (<c>GET /api/v1/query</c>). The first value that breaks the condition fails the gate at once; the gate passes
/// when the window ends with at least one conforming value. A scalar result or the first sample of a vector counts;
/// an empty vector or NaN is "no data".
/// </summary>
public sealed partial class PrometheusGate : IRolloutGate
{
    private readonly PrometheusGateOptions _options;
    private readonly HttpClient _http;
    private readonly string _operator;
    private readonly double _threshold;

    /// <summary>Creates the gate; throws IMB6009 for a condition or server it cannot use.</summary>
    public PrometheusGate(PrometheusGateOptions options, HttpClient? http = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        if (!options.Server.IsAbsoluteUri || options.Server.Scheme is not ("http" or "https"))
        {
            throw new ImmutableBuildException(RolloutErrors.InvalidGate, $"The Prometheus address '{options.Server}' must be an absolute http(s) URL, e.g. http://127.0.0.1:9090.");
        }

        if (string.IsNullOrWhiteSpace(options.Query))
        {
            throw new ImmutableBuildException(RolloutErrors.InvalidGate, "The Prometheus query is empty: set ImmutablePrometheusQuery, e.g. sum(rate(errors_total{release=\"{release}\"}[1m])).");
        }

        var match = ConditionPattern().Match(options.Condition ?? "");
        if (!match.Success || !double.TryParse(match.Groups["n"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out _threshold))
        {
            throw new ImmutableBuildException(RolloutErrors.InvalidGate, $"The Prometheus condition '{options.Condition}' is not '<operator> <number>'; write e.g. '< 0.01' (operators: < <= > >= == !=).");
        }

        _operator = match.Groups["op"].Value;
        _http = http ?? GateHttp.Shared;
    }

    /// <inheritdoc />
    public string Name => $"prometheus {_options.Condition.Trim()}";

    /// <summary>The query with placeholders replaced for a release and group.</summary>
    public string Render(GateContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return _options.Query
            .Replace("{release}", context.Release.ReleaseId, StringComparison.Ordinal)
            .Replace("{group}", context.Group, StringComparison.Ordinal)
            .Replace("{app}", context.Scope.App, StringComparison.Ordinal)
            .Replace("{environment}", context.Scope.Environment, StringComparison.Ordinal);
    }

    /// <inheritdoc />
    public async Task<GateResult> EvaluateAsync(GateContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var query = Render(context);
        var end = context.Time.GetUtcNow() + context.Window;
        var conforming = 0;
        var values = new List<string>();
        while (true)
        {
            var (value, error) = await QueryAsync(query, cancellationToken);
            if (error is not null)
            {
                return new GateResult(Name, GateVerdict.Failed, $"{error} (query: {query}; {Properties})");
            }

            if (value is { } v)
            {
                values.Add(v.ToString("G4", CultureInfo.InvariantCulture));
                if (!Holds(v))
                {
                    return new GateResult(Name, GateVerdict.Failed, $"{query} = {v.ToString("G6", CultureInfo.InvariantCulture)}, which is not {_options.Condition.Trim()} (values: {Tail(values)}; {Properties})");
                }

                conforming++;
            }
            else
            {
                values.Add("no data");
            }

            if (context.Time.GetUtcNow() + _options.Interval > end)
            {
                break;
            }

            await Task.Delay(_options.Interval, context.Time, cancellationToken);
        }

        if (conforming > 0)
        {
            return new GateResult(Name, GateVerdict.Passed, $"{conforming} evaluation(s) {_options.Condition.Trim()} (values: {Tail(values)})");
        }

        return _options.PassWhenNoData
            ? new GateResult(Name, GateVerdict.Passed, $"no data for {query} over the window; passing as configured")
            : new GateResult(Name, GateVerdict.Inconclusive, $"no data for {query} over the window {context.Window.TotalSeconds:0.#}s (ImmutableAnalysisWindow; {Properties})");
    }

    // Every failure says what changes the gate, so the reader need not know where it was configured.
    private const string Properties = "the gate is ImmutablePrometheusQuery and ImmutablePrometheusCondition; ImmutablePrometheusUrl=none removes it";

    private bool Holds(double v) => _operator switch
    {
        "<" => v < _threshold,
        "<=" => v <= _threshold,
        ">" => v > _threshold,
        ">=" => v >= _threshold,
        "==" => v == _threshold,
        _ => v != _threshold,
    };

    private static string Tail(List<string> values) => string.Join(", ", values.TakeLast(8));

    private async Task<(double? Value, string? Error)> QueryAsync(string query, CancellationToken cancellationToken)
    {
        var url = GateHttp.Combine(_options.Server, "/api/v1/query?query=" + Uri.EscapeDataString(query));
        using var request = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        request.CancelAfter(_options.RequestTimeout);
        byte[] body;
        int status;
        try
        {
            using var response = await _http.GetAsync(url, request.Token);
            status = (int)response.StatusCode;
            body = await response.Content.ReadAsByteArrayAsync(request.Token);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // An unreachable Prometheus is not evidence about the release; it counts as no data for this evaluation.
            return (null, null);
        }

        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.TryGetProperty("status", out var s) && s.GetString() != "success")
            {
                var message = root.TryGetProperty("error", out var err) ? err.GetString() : $"HTTP {status}";
                return (null, $"{RolloutErrors.PrometheusQuery}: Prometheus rejected the query: {message}");
            }

            var data = root.GetProperty("data");
            var result = data.GetProperty("result");
            var sample = data.GetProperty("resultType").GetString() switch
            {
                "scalar" => result,
                "vector" when result.GetArrayLength() > 0 => result[0].GetProperty("value"),
                "vector" => default,
                var other => throw new JsonException($"result type {other} is not a scalar or an instant vector"),
            };
            if (sample.ValueKind != JsonValueKind.Array)
            {
                return (null, null);
            }

            var v = double.Parse(sample[1].GetString()!, NumberStyles.Float, CultureInfo.InvariantCulture);
            return double.IsNaN(v) ? (null, null) : (v, null);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException)
        {
            return (null, $"{RolloutErrors.PrometheusQuery}: {url.GetLeftPart(UriPartial.Authority)} did not answer a Prometheus query result (HTTP {status}): {e.Message}");
        }
    }

    [GeneratedRegex(@"^\s*(?<op><=|>=|==|!=|<|>)\s*(?<n>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex ConditionPattern();
}
