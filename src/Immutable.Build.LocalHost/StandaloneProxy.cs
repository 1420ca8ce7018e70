using Immutable.Build.Targets.Local;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Immutable.Build.Targets;
using Yarp.ReverseProxy.Forwarder;

namespace Immutable.Build.LocalHost;

/// <summary>
/// <c>proxy</c>: one app's reverse proxy on its own, as the Docker target runs it in a container on each host. It
/// routes by a routes file that the target replaces through the Engine API, checks it every 100 ms, and after it
/// routes by a new version writes that version to the applied file, so the target knows when old instances stop
/// getting new requests. A file that does not parse (a write still in progress) is read again on the next check.
/// </summary>
internal static class StandaloneProxy
{
    public static async Task<int> RunAsync(IReadOnlyDictionary<string, string> options, TimeProvider time)
    {
        var routesPath = options.GetValueOrDefault("routes") ?? "/immutable/state/routes.json";
        var appliedPath = options.GetValueOrDefault("applied") ?? "/immutable/state/applied.json";
        var scope = options.GetValueOrDefault("scope") ?? "app";
        if (!int.TryParse(options.GetValueOrDefault("port"), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            Console.Error.WriteLine("proxy needs --port <1-65535>");
            return 2;
        }

        if (!IPAddress.TryParse(options.GetValueOrDefault("listen") ?? "0.0.0.0", out var listen))
        {
            Console.Error.WriteLine("proxy --listen takes an IP address, e.g. 0.0.0.0 or 127.0.0.1");
            return 2;
        }

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHttpForwarder();
        await using var provider = services.BuildServiceProvider();
        using var client = ScopeProxy.CreateClient();
        await using var proxy = await ScopeProxy.StartAsync(scope, listen, port, provider.GetRequiredService<IHttpForwarder>(), client, CancellationToken.None);
        HostLog.Line($"proxy {scope} listens on {listen}:{proxy.Port}; routes from {routesPath}");

        using var stop = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

        long applied = -1;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (File.Exists(routesPath) && ProxyRoutes.TryParse(await File.ReadAllBytesAsync(routesPath, stop.Token)) is { } routes && routes.Version != applied)
                {
                    proxy.Routes = RoutingTable.Build(routes.Weights, routes.Instances.Select(r => ToInstance(r, time)));
                    applied = routes.Version;
                    WriteApplied(appliedPath, new ProxyApplied(applied, time.GetUtcNow()).ToJson());
                    HostLog.Line($"routes v{applied}: {string.Join(", ", routes.Weights.Select(w => $"{w.Key} {w.Value}%"))} over {routes.Instances.Count} instance(s)");
                }
                else if (applied < 0)
                {
                    // No routes yet: say so, so the target knows the proxy is up.
                    applied = 0;
                    WriteApplied(appliedPath, new ProxyApplied(0, time.GetUtcNow()).ToJson());
                }
            }
            catch (IOException e)
            {
                HostLog.Line($"routes not read: {e.Message}");
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), time, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        HostLog.Line("proxy stopping");
        return 0;
    }

    private static Instance ToInstance(ProxyRoute route, TimeProvider time) => new()
    {
        Id = route.Id,
        ScopeKey = "",
        App = "",
        Environment = "",
        Group = route.Group,
        ReleaseId = "",
        ImageDigest = "",
        Port = route.Port,
        LogFile = "",
        ReleaseDirectory = "",
        StartedAt = time.GetUtcNow(),
        Status = LocalInstanceStatus.Running,
    };

    /// <summary>The target reads the applied file through the Engine API at any moment: it must never see half of it.</summary>
    private static void WriteApplied(string path, byte[] content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        AtomicFile.WriteAllBytes(path, content);
    }
}
