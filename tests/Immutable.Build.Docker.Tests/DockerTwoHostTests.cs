using System.Text.Json;

namespace Immutable.Build.Docker.Tests;

/// <summary>
/// Two engines stand for two hosts: the first on its unix socket, the second behind a TCP forwarder that speaks TLS
/// and requires a client certificate (a remote host as `tcp://host:2376` with `DOCKER_CERT_PATH` would), and that
/// the test can cut, so the host becomes unreachable in the middle of a rollout.
/// </summary>
public sealed class DockerTwoHostTests(BaseImagesFixture bases, DockerEngineFixture engineA, SecondDockerEngineFixture engineB) : IAsyncLifetime
{
    private readonly DockerScenario _scenario = new(bases, engineA);
    private EngineForwarder? _forwarder;

    public async ValueTask InitializeAsync()
    {
        bases.Require();
        engineA.Require();
        engineB.Require();
        var certificates = TestEnvironment.NewWorkDir("docker-tls");
        _forwarder = EngineForwarder.Start(engineB.SocketPath, TestCertificates.CreateForwarderTls(certificates));
        _scenario.TlsCertPath = certificates;
        _scenario.Hosts.AddRange([engineA.DockerHost, _forwarder.Endpoint]);
        _scenario.Engines.AddRange([engineA.DockerHost, engineB.DockerHost]);
        await _scenario.InitializeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _scenario.DisposeAsync();
        if (_forwarder is not null)
        {
            await _forwarder.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_host_unreachable_mid_rollout_fails_it_with_the_host_named_and_both_hosts_are_rolled_back()
    {
        var ct = TestContext.Current.CancellationToken;
        var forwarder = _forwarder!;
        var v1 = await _scenario.PublishAsync(replicas: 1);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(v1.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(_scenario.ProxyOf(0), ct)));
        Assert.Equal(v1.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(_scenario.ProxyOf(1), ct)));
        Assert.Single(await _scenario.InstancesAsync(engineA.DockerHost));
        Assert.Single(await _scenario.InstancesAsync(engineB.DockerHost));

        // Host by host: the first host runs v2, then the second stops answering right after its container starts,
        // for two seconds. The rollout fails naming it, and the rollback reaches it again: both hosts are back on v1.
        var v2 = await _scenario.ChangeAndPublishAsync("Hello two hosts", replicas: 0);
        forwarder.CutAfter(@"POST /(v[0-9.]+/)?containers/[0-9a-f]+/start", TimeSpan.Zero);
        var outage = Task.Run(async () =>
        {
            await forwarder.WaitCutAsync(TimeSpan.FromMinutes(3));
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
            forwarder.Resume();
        }, ct);
        var brief = await _scenario.CliAsync("deploy", v2.Manifest, "--replicas", "1");
        await outage;
        Assert.True(brief.ExitCode != 0, brief.Output);
        Assert.True(brief.Output.Contains(forwarder.Endpoint, StringComparison.Ordinal) && brief.Output.Contains("IMB5003", StringComparison.Ordinal), brief.Output);
        Assert.True(brief.Output.Contains("IMB6005", StringComparison.Ordinal) && !brief.Output.Contains("IMB6006", StringComparison.Ordinal), brief.Output);
        foreach (var engine in new[] { engineA.DockerHost, engineB.DockerHost })
        {
            var instances = await _scenario.InstancesAsync(engine);
            Assert.True(instances.Count == 1 && instances[0].Labels["immutable.release"] == v1.ReleaseId, $"{engine}: {string.Join(", ", instances.Select(i => i.Labels["immutable.release"]))}");
        }

        Assert.Equal(v1.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(_scenario.ProxyOf(0), ct)));
        Assert.Equal(v1.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(_scenario.ProxyOf(1), ct)));

        // Now the second host stays away: the first is rolled back at once, the second when it answers again.
        forwarder.CutAfter(@"POST /(v[0-9.]+/)?containers/[0-9a-f]+/start", TimeSpan.Zero);
        var deploy = await _scenario.CliAsync("deploy", v2.Manifest, "--replicas", "1");
        Assert.True(forwarder.IsCut, "the second host was never cut");
        Assert.True(deploy.ExitCode != 0, deploy.Output);
        Assert.True(deploy.Output.Contains(forwarder.Endpoint, StringComparison.Ordinal) && deploy.Output.Contains("IMB5003", StringComparison.Ordinal), deploy.Output);

        // The reachable host is back on v1 at once.
        Assert.All(await _scenario.InstancesAsync(engineA.DockerHost), c => Assert.Equal(v1.ReleaseId, c.Labels["immutable.release"]));
        Assert.Single(await _scenario.InstancesAsync(engineA.DockerHost));
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(v1.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(_scenario.ProxyOf(0), ct)));
        }

        // While the second host is away, status says it could not be observed.
        var away = await _scenario.CliAsync("status", "--output", "json");
        Assert.Equal(3, away.ExitCode);
        Assert.Contains(forwarder.Endpoint, away.StandardOutput, StringComparison.Ordinal);

        // Once it answers again, the next command converges it: v2's container there is removed.
        Assert.Contains(await _scenario.InstancesAsync(engineB.DockerHost), c => c.Labels["immutable.release"] == v2.ReleaseId);
        forwarder.Resume();
        var repaired = await _scenario.CliAsync("status", "--repair", "--output", "json");
        Assert.True(repaired.ExitCode == 0, repaired.Output);
        using (var status = JsonDocument.Parse(repaired.StandardOutput))
        {
            Assert.Equal(v1.ReleaseId, status.RootElement.GetProperty("current").GetProperty("releaseId").GetString());
        }

        foreach (var engine in new[] { engineA.DockerHost, engineB.DockerHost })
        {
            var instances = await _scenario.InstancesAsync(engine);
            Assert.True(instances.Count == 1 && instances[0].Labels["immutable.release"] == v1.ReleaseId, $"{engine}: {string.Join(", ", instances.Select(i => i.Labels["immutable.release"]))}");
        }

        Assert.Equal(v1.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(_scenario.ProxyOf(1), ct)));

        // And the next deploy reaches both hosts.
        var again = await _scenario.CliAsync("deploy", v2.Manifest, "--replicas", "1", "--docker-host-batch", "all");
        Assert.True(again.ExitCode == 0, again.Output);
        Assert.Equal(v2.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(_scenario.ProxyOf(0), ct)));
        Assert.Equal(v2.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(_scenario.ProxyOf(1), ct)));
    }
}
