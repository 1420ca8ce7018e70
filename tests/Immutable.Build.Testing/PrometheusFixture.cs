using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Immutable.Build.Testing;

/// <summary>
/// A real Prometheus (Debian's package, tests/infra/prometheus.sh) on loopback, scraping every second a small
/// in-process /metrics endpoint whose series the tests set, so analysis gates see the real query engine.
/// </summary>
public sealed class PrometheusFixture : InfraFixture
{
    private readonly ConcurrentDictionary<string, double> _series = new(StringComparer.Ordinal);
    private HttpListener? _listener;
    private Task? _loop;

    /// <summary>host:port of Prometheus.</summary>
    public string Address { get; private set; } = "";

    /// <summary>http://host:port/ of Prometheus.</summary>
    public Uri Url => new($"http://{Address}/");

    /// <summary>host:port of the scraped endpoint.</summary>
    public string ScrapeTarget { get; private set; } = "";

    /// <summary>Adds <paramref name="delta"/> to a counter such as <c>app_requests_total{release="v1"}</c> (created at 0).</summary>
    public void Add(string series, double delta) => _series.AddOrUpdate(series, delta, (_, v) => v + delta);

    /// <inheritdoc />
    protected override string Name => "Prometheus";

    /// <inheritdoc />
    protected override async Task StartAsync()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        _listener = new HttpListener();
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
        ScrapeTarget = $"127.0.0.1:{port}";
        var addrFile = Path.Combine(TestEnvironment.InfraDir, "run", "prometheus.addr");
        WasRunning = File.Exists(addrFile);
        await RunScriptAsync("prometheus.sh", "start", ScrapeTarget);
        Address = File.ReadAllText(addrFile).Trim();
    }

    /// <inheritdoc />
    protected override async Task StopAsync()
    {
        await RunScriptAsync("prometheus.sh", "stop");
        _listener?.Close();
        if (_loop is not null)
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        }
    }

    private async Task ServeAsync()
    {
        while (_listener is { IsListening: true } listener)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            var text = new StringBuilder();
            foreach (var name in _series.Keys.Select(k => k.Split('{')[0]).Distinct().Order(StringComparer.Ordinal))
            {
                text.Append(CultureInfo.InvariantCulture, $"# TYPE {name} counter\n");
                foreach (var (series, value) in _series.Where(s => s.Key.Split('{')[0] == name))
                {
                    text.Append(CultureInfo.InvariantCulture, $"{series} {value}\n");
                }
            }

            var bytes = Encoding.UTF8.GetBytes(text.ToString());
            context.Response.ContentType = "text/plain; version=0.0.4";
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }
}
