using System.Globalization;

namespace Immutable.Build.Docker.Tests;

/// <summary>
/// The Docker target's proxy (issue 14) under wrk at 64 connections on the real engine: straight at the instance
/// and through the proxy, then through the proxy while `immutable deploy` switches v1 to v2 blue-green. No request
/// may fail; the figures are printed.
/// </summary>
public sealed class DockerProxyLoadTests(BaseImagesFixture bases, DockerEngineFixture engine) : DockerScenarioTest(bases, engine)
{
    private const int Connections = 64;
    private static readonly TimeSpan Switching = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Sixty_four_connections_through_a_blue_green_switch_fail_no_request()
    {
        var ct = TestContext.Current.CancellationToken;
        var v1 = await Scenario.PublishAsync(replicas: 1, "-p:ImmutableKeepOldFor=1s");
        var v2 = await Scenario.ChangeAndPublishAsync("Hello docker under load", replicas: 0);
        var instance = (await Scenario.InstancesAsync(Engine.DockerHost)).Single();
        var direct = new Uri($"http://127.0.0.1:{instance.Labels["immutable.port"]}/healthz");
        var proxy = new Uri(Scenario.ProxyUrl, "healthz");

        var runs = new List<(string What, WrkResult Result)>
        {
            ("warm-up", await Wrk.RunAsync(proxy, Connections, TimeSpan.FromSeconds(2), ct: ct)),
            ("direct", await Wrk.RunAsync(direct, Connections, TimeSpan.FromSeconds(4), ct: ct)),
            ("proxy", await Wrk.RunAsync(proxy, Connections, TimeSpan.FromSeconds(4), ct: ct)),
        };

        var load = Wrk.RunAsync(proxy, Connections, Switching, ct: ct);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(1), ct);
        var deploy = await Scenario.CliAsync("deploy", v2.Manifest, "--replicas", "1");
        var deployedIn = clock.Elapsed;
        runs.Add(("switching", await load));

        var lines = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture,
                $"load docker: direct {runs[1].Result.Summary} | proxy {runs[2].Result.Summary} | switch p99 {runs[3].Result.P99:0.00} | errors {runs.Sum(r => r.Result.SocketErrors + r.Result.BadStatus)}; the deploy took {deployedIn.TotalSeconds:0.0} s of the {Switching.TotalSeconds:0} s"),
        };
        lines.AddRange(runs.Select(r => string.Create(CultureInfo.InvariantCulture, $"  {r.What}: {r.Result.Summary} p90 {r.Result.P90:0.00} max {r.Result.Max:0.00} ({r.Result.Requests} requests; {r.Result.Errors})")));
        foreach (var line in lines)
        {
            TestContext.Current.TestOutputHelper?.WriteLine(line);
            Console.WriteLine(line);
        }

        Directory.CreateDirectory(TestEnvironment.RunDir);
        await File.AppendAllLinesAsync(Path.Combine(TestEnvironment.RunDir, "load-figures.txt"), lines, ct);

        Assert.True(deploy.ExitCode == 0, deploy.Output);
        Assert.All(runs, r => Assert.True(r.Result.SocketErrors == 0 && r.Result.BadStatus == 0, $"{r.What}: {r.Result.Errors}"));
        Assert.True(deployedIn < Switching, $"the deploy took {deployedIn.TotalSeconds:0.0} s, longer than the {Switching.TotalSeconds:0} s of load it was to run under");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(v2.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(Scenario.ProxyUrl, ct)));
        Assert.NotEqual(v1.ReleaseId, v2.ReleaseId);
    }
}
