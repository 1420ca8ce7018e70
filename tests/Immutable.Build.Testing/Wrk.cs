using System.Globalization;
using System.Text.Json;

namespace Immutable.Build.Testing;

/// <summary>
/// What one wrk run measured. Latencies in milliseconds. <see cref="BadStatus"/> is wrk's own count of answers with
/// a status of 400 or more (it cannot count 1xx/3xx without a per-response Lua hook that would slow it down, and
/// neither the sample nor the proxies answer those); the socket errors are connect, read, write and timeout.
/// </summary>
public sealed record WrkResult(
    long Requests,
    double Seconds,
    double P50,
    double P90,
    double P99,
    double Max,
    long ConnectErrors,
    long ReadErrors,
    long WriteErrors,
    long Timeouts,
    long BadStatus)
{
    public double RequestsPerSecond => Requests / Seconds;

    public long SocketErrors => ConnectErrors + ReadErrors + WriteErrors + Timeouts;

    public string Summary => string.Create(CultureInfo.InvariantCulture, $"{RequestsPerSecond:0} rps p50 {P50:0.00} p99 {P99:0.00}");

    public string Errors => string.Create(CultureInfo.InvariantCulture, $"connect {ConnectErrors}, read {ReadErrors}, write {WriteErrors}, timeout {Timeouts}, status>=400 {BadStatus}");
}

/// <summary>
/// Runs wrk (tests/infra/install.sh installs it) against a loopback URL; a Lua <c>done</c> hook prints the
/// summary and latency percentiles as one JSON line, so nothing parses wrk's human output.
/// </summary>
public static class Wrk
{
    private const string Marker = "WRK-JSON ";

    private const string DoneScript = """
        done = function(summary, latency, requests)
          local e = summary.errors
          io.write(string.format('WRK-JSON {"requests":%d,"us":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}\n',
            summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
            e.connect, e.read, e.write, e.timeout, e.status))
        end
        """;

    /// <summary>Runs wrk for <paramref name="duration"/> with <paramref name="connections"/> connections on <paramref name="threads"/> threads.</summary>
    public static async Task<WrkResult> RunAsync(Uri url, int connections, TimeSpan duration, int threads = 2, CancellationToken ct = default)
    {
        if (!url.IsLoopback)
        {
            throw new ArgumentException($"wrk only ever loads loopback addresses, not {url}", nameof(url));
        }

        var script = Path.Combine(TestEnvironment.NewWorkDir("wrk"), "done.lua");
        await File.WriteAllTextAsync(script, DoneScript, ct);
        var seconds = Math.Max(1, (int)Math.Round(duration.TotalSeconds));
        var result = await ProcessRunner.RunAsync(
            "wrk",
            ["-t", threads.ToString(CultureInfo.InvariantCulture), "-c", connections.ToString(CultureInfo.InvariantCulture), "-d", $"{seconds}s", "--timeout", "5s", "-s", script, url.ToString()],
            timeout: duration + TimeSpan.FromSeconds(30),
            cancellationToken: ct);
        result.EnsureSuccess($"wrk against {url}");
        var line = result.StandardOutput.Split('\n').FirstOrDefault(l => l.StartsWith(Marker, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"wrk printed no summary: {result.Output}");
        return Parse(line[Marker.Length..]);
    }

    public static WrkResult Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        long Get(string name) => root.GetProperty(name).GetInt64();
        return new WrkResult(
            Get("requests"),
            Get("us") / 1e6,
            Get("p50") / 1e3,
            Get("p90") / 1e3,
            Get("p99") / 1e3,
            Get("max") / 1e3,
            Get("connect"),
            Get("read"),
            Get("write"),
            Get("timeout"),
            Get("status"));
    }
}
