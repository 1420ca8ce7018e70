using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Immutable.Build.Deployments;
using Immutable.Build.Rollout;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>
/// Issue 14: the host SIGKILLed and nothing else run before `immutable status --repair`. Unlike
/// <see cref="LocalRepairTests"/>, no command has started a new host in between, so repair itself must bring the
/// host back, serve the current release on its fixed port again, and leave none of the orphaned instances running.
/// </summary>
[Collection(LocalTargetCollection.Name)]
public sealed class LocalHostCrashRepairTests(SampleReleaseFixture sample) : LocalTargetTestBase(sample)
{
    [Fact(Timeout = 240_000)]
    public async Task Repair_right_after_the_host_is_killed_restarts_it_and_serves_the_current_release_again()
    {
        var ct = TestContext.Current.CancellationToken;
        var port = FreePort();

        // As the CLI does it: `immutable deploy --local-port <port>`, then `immutable status --repair` given only the scope.
        var deployed = await Deployer.DeployAsync(Options(port), Sample.Release, ReleaseLog.None, ct);
        Assert.Equal(RolloutOutcomes.Succeeded, deployed.Outcome);
        var proxy = new Uri($"http://127.0.0.1:{port}/");
        await WaitUntilAsync(async () => (await VersionAsync(proxy)).ReleaseId == Sample.Release.ReleaseId, TimeSpan.FromSeconds(60), "the proxy serving the release");

        var host = await LocalStateFiles.ReadHostFileAsync(StateDirectory, ct) ?? throw new InvalidOperationException("no host.json");
        var orphans = (await LocalStateFiles.ReadStateAsync(StateDirectory, ct))?.Instances.Select(i => i.Pid).ToList() ?? [];
        Assert.NotEmpty(orphans);
        var crash = Stopwatch.StartNew();
        Process.GetProcessById(host.Pid).Kill(); // SIGKILL: no shutdown, the instances stay behind
        await WaitUntilAsync(() => Task.FromResult(!IsAlive(host.Pid)), TimeSpan.FromSeconds(10), "the killed host to end");
        Assert.Null(await StatusOfAsync(new Uri(proxy, "version")));

        var repaired = await Deployer.StatusAsync(Options(null), repair: true, ReleaseLog.None, ct);
        var repairedAt = crash.Elapsed;
        var firstOk = await FirstOkAsync(proxy, crash);
        TestContext.Current.SendDiagnosticMessage($"host crash to first 200 after repair: {firstOk.TotalSeconds:0.0} s (repair returned at {repairedAt.TotalSeconds:0.0} s)");

        var (releaseId, failure) = await VersionAsync(proxy);
        Assert.True(releaseId == Sample.Release.ReleaseId, $"after repair the proxy answered {failure ?? releaseId}; repairs: {string.Join("; ", repaired.Repairs)}");
        Assert.True(repaired.InSync, string.Join("; ", repaired.Drift.Select(d => d.Reason)));
        var fresh = await LocalStateFiles.ReadHostFileAsync(StateDirectory, ct);
        Assert.True(fresh is not null && fresh.Pid != host.Pid && IsAlive(fresh.Pid), "repair left no new host running");
        await WaitUntilAsync(() => Task.FromResult(!orphans.Any(IsAlive)), TimeSpan.FromSeconds(15), "the orphaned instances to be gone");
    }

    // The first 200 may come only once the proxy is back: polled from the crash's clock, so the figure is crash-to-serving.
    private async Task<TimeSpan> FirstOkAsync(Uri proxy, Stopwatch crash)
    {
        var deadline = crash.Elapsed + TimeSpan.FromSeconds(60);
        while (crash.Elapsed < deadline)
        {
            if (await StatusOfAsync(new Uri(proxy, "version")) == HttpStatusCode.OK)
            {
                return crash.Elapsed;
            }

            await Task.Delay(50, Ct);
        }

        throw new TimeoutException("the proxy never answered 200 after repair");
    }

    private DeploymentOptions Options(int? port) => new()
    {
        App = Scope.App,
        Environment = Scope.Environment,
        StateDirectory = StateDirectory,
        HostAssembly = SampleReleaseFixture.HostAssembly,
        TargetSettings = port is { } p ? new Dictionary<string, string> { [LocalTargetProvider.PortProperty] = p.ToString(System.Globalization.CultureInfo.InvariantCulture) } : new Dictionary<string, string>(),
        GetEnvironmentVariable = _ => null,
    };

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
