using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Immutable.Build.Releases;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;
using Microsoft.Extensions.Time.Testing;

namespace Immutable.Build.Core.Tests.Rollout;

/// <summary>Releases, scopes and engines for rollout tests; each test gets its own state directory.</summary>
internal static class RolloutTestKit
{
    public static DeploymentScope Scope(string app = "hello") => new(app, "test-" + Guid.NewGuid().ToString("N")[..6]);

    public static ReleaseRef Release(string id)
    {
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)));
        return new ReleaseRef(id, "hello@" + digest, digest, "oci:/layouts/hello@" + digest, new string('a', 40));
    }

    public static RolloutEngineOptions Options(string stateDir, List<string>? log = null) => new()
    {
        StateDirectory = stateDir,
        PollInterval = TimeSpan.FromMilliseconds(5),
        StartTimeout = TimeSpan.FromSeconds(2),
        LockTimeout = TimeSpan.FromSeconds(5),
        Drain = TimeSpan.Zero,
        GetEnvironmentVariable = _ => null,
        Log = log is null ? ReleaseLog.None : new ReleaseLog(l => { lock (log) { log.Add(l); } }, l => { lock (log) { log.Add("  " + l); } }, (c, l) => { lock (log) { log.Add($"{c}: {l}"); } }),
    };

    /// <summary>Asserts the target's current routing sends traffic only to running instances of one release; returns the routed groups, comma-separated.</summary>
    public static async Task<string> AssertServesAsync(IDeploymentTarget target, DeploymentScope scope, ReleaseRef release)
    {
        var state = await target.ObserveAsync(scope, CancellationToken.None);
        var routed = state.WeightsByGroup.Where(w => w.Value > 0).ToList();
        Assert.NotEmpty(routed);
        Assert.Equal(100, routed.Sum(w => w.Value));
        foreach (var (group, _) in routed)
        {
            var instances = state.Instances.Where(i => i.Group == group).ToList();
            Assert.NotEmpty(instances);
            Assert.All(instances, i => Assert.Equal("running", i.Status));
            Assert.All(instances, i => Assert.Equal(release.ImageDigest, i.ImageDigest));
        }

        return string.Join(",", routed.Select(r => r.Key).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// Moves <paramref name="time"/> on in <paramref name="step"/>s until <paramref name="task"/>, which waits on that clock,
    /// completes; yields between steps so the code under test runs. Fails if it takes a minute of real time.
    /// </summary>
    public static async Task<T> DriveAsync<T>(FakeTimeProvider time, Task<T> task, TimeSpan? step = null)
    {
        await DriveAsync(time, (Task)task, step);
        return await task;
    }

    /// <inheritdoc cref="DriveAsync{T}(FakeTimeProvider, Task{T}, TimeSpan?)"/>
    public static async Task DriveAsync(FakeTimeProvider time, Task task, TimeSpan? step = null)
    {
        var real = Stopwatch.StartNew();
        while (!task.IsCompleted)
        {
            Assert.True(real.Elapsed < TimeSpan.FromMinutes(1), $"still running at {time.GetUtcNow():O} on the fake clock");
            time.Advance(step ?? TimeSpan.FromMilliseconds(10));
            await Task.WhenAny(task, Task.Delay(1));
        }

        await task;
    }

    /// <summary>Moves <paramref name="time"/> on by <paramref name="by"/> in <paramref name="step"/>s, yielding between steps.</summary>
    public static async Task AdvanceAsync(FakeTimeProvider time, TimeSpan by, TimeSpan step)
    {
        for (var moved = TimeSpan.Zero; moved + step <= by; moved += step)
        {
            time.Advance(step);
            await Task.Delay(1);
        }
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

/// <summary>
/// A loopback HTTP server standing in for instances: <c>/i/&lt;release&gt;/&lt;n&gt;/healthz</c> and <c>/version</c>, so an
/// <see cref="InMemoryTarget"/> can hand out addresses that real HTTP gates probe.
/// </summary>
internal sealed class InstanceServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    public InstanceServer()
    {
        Port = RolloutTestKit.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    /// <summary>Health status code per release (default 200).</summary>
    public Dictionary<string, int> HealthStatus { get; } = [];

    /// <summary>Release id reported by /version per release (default: the release itself).</summary>
    public Dictionary<string, string> ReportedRelease { get; } = [];

    /// <summary>The paths (last segment) that answer as the health endpoint (default healthz).</summary>
    public HashSet<string> HealthPaths { get; } = ["healthz"];

    /// <summary>Releases whose instances have no /version endpoint (they answer it 404).</summary>
    public HashSet<string> WithoutVersion { get; } = [];

    public int Requests;

    public Uri AddressFor(LaunchRequest request, int index) => new($"http://127.0.0.1:{Port}/i/{request.Release.ReleaseId}/{index}/");

    public void Dispose()
    {
        // Close alone: the managed HttpListener's Stop drops its endpoint, and a Close after it binds the port
        // again to drop it once more, which fails when another test's listener has taken the port meanwhile.
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            Interlocked.Increment(ref Requests);
            var parts = context.Request.Url!.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
            var (status, body) = parts switch
            {
                ["i", var release, _, var path] when HealthPaths.Contains(path) => (HealthStatus.GetValueOrDefault(release, 200), "ok"),
                ["i", var release, _, "version"] when !WithoutVersion.Contains(release) => (200, $$"""{"releaseId":"{{ReportedRelease.GetValueOrDefault(release, release)}}","commit":"abc"}"""),
                _ => (404, "not found"),
            };
            context.Response.StatusCode = status;
            var bytes = Encoding.UTF8.GetBytes(body);
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }
}
