using System.Net;
using Immutable.Build.Rollout;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>
/// A host killed with its instances running: the next host reaps them as orphans, so nothing serves the current
/// release until status --repair relaunches it; status must say so until then, never "in sync".
/// </summary>
[Collection(LocalTargetCollection.Name)]
public sealed class LocalRepairTests(SampleReleaseFixture sample) : LocalTargetTestBase(sample)
{
    [Fact(Timeout = 240_000)]
    public async Task Repair_after_a_killed_host_brings_the_current_release_back_serving_before_it_says_in_sync()
    {
        var ct = TestContext.Current.CancellationToken;
        var engine = new RolloutEngine(Target, new RolloutEngineOptions
        {
            StateDirectory = StateDirectory,
            StartTimeout = TimeSpan.FromSeconds(60),
            Drain = TimeSpan.Zero,
            GetEnvironmentVariable = _ => null,
        });
        var deployed = await engine.DeployAsync(Scope, Sample.Release, RolloutStrategy.BlueGreen(2), ct);
        Assert.Equal(RolloutOutcomes.Succeeded, deployed.Outcome);
        var proxy = await ProxyAsync();
        await WaitUntilAsync(async () => (await VersionAsync(proxy)).ReleaseId == Sample.Release.ReleaseId, TimeSpan.FromSeconds(60), "the proxy serving the release");

        var host = await LocalStateFiles.ReadHostFileAsync(StateDirectory, ct) ?? throw new InvalidOperationException("no host.json");
        System.Diagnostics.Process.GetProcessById(host.Pid).Kill(); // SIGKILL: no shutdown, the instances stay behind
        await WaitUntilAsync(() => Task.FromResult(!IsAlive(host.Pid)), TimeSpan.FromSeconds(10), "the killed host to end");

        // Another host starts (as any command that needs one would) and reaps the orphans; no rollout relaunches them.
        using (var control = await LocalHostControl.ConnectOrStartAsync(new LocalTargetOptions(StateDirectory, SampleReleaseFixture.HostAssembly, ProxyPort: 0), ct))
        {
            await WaitUntilAsync(async () => (await control.ListAsync(ct)).Count == 0, TimeSpan.FromSeconds(10), "the new host to hold no instance");
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, await StatusOfAsync(new Uri(proxy, "version")));
        var unserved = await engine.StatusAsync(Scope, cancellationToken: ct);
        Assert.False(unserved.InSync, "status says in sync while the proxy has no live instance");
        Assert.Contains(unserved.Drift, d => d.Reason.StartsWith($"nothing serves {Sample.Release.ReleaseId}", StringComparison.Ordinal));

        var repaired = await engine.StatusAsync(Scope, repair: true, ct);
        Assert.Contains(repaired.Repairs, r => r.StartsWith($"relaunched {Sample.Release.ReleaseId}", StringComparison.Ordinal));
        var (releaseId, failure) = await VersionAsync(proxy);
        Assert.True(releaseId == Sample.Release.ReleaseId, $"after repair the proxy answered {failure ?? releaseId}");
        Assert.True(repaired.InSync, string.Join("; ", repaired.Drift.Select(d => d.Reason)));
    }
}
