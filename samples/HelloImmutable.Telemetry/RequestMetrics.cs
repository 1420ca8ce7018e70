using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace HelloImmutable.Telemetry;

/// <summary>Request and error counters in the Prometheus text exposition format (version 0.0.4).</summary>
public sealed class RequestMetrics
{
    private readonly ConcurrentDictionary<(string Path, int Status), long> _requests = new();
    private long _errors;

    public void Record(string path, int status)
    {
        _requests.AddOrUpdate((path, status), 1, (_, n) => n + 1);
        if (status >= 500)
        {
            Interlocked.Increment(ref _errors);
        }
    }

    public string Render(ReleaseInfo release)
    {
        var text = new StringBuilder();
        text.Append("# HELP hello_http_requests_total HTTP requests served, by path and status.\n");
        text.Append("# TYPE hello_http_requests_total counter\n");
        foreach (var ((path, status), count) in _requests.OrderBy(e => e.Key.Path, StringComparer.Ordinal).ThenBy(e => e.Key.Status))
        {
            text.Append(CultureInfo.InvariantCulture, $"hello_http_requests_total{{path=\"{Escape(path)}\",status=\"{status}\",release=\"{Escape(release.ReleaseId)}\"}} {count}\n");
        }

        text.Append("# HELP hello_http_request_errors_total HTTP requests answered with a 5xx status.\n");
        text.Append("# TYPE hello_http_request_errors_total counter\n");
        text.Append(CultureInfo.InvariantCulture, $"hello_http_request_errors_total{{release=\"{Escape(release.ReleaseId)}\"}} {Interlocked.Read(ref _errors)}\n");
        return text.ToString();
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
