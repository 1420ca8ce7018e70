using System.Globalization;
using Immutable.Build.Rollout;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>
/// The local proxy under load (issue 14): wrk at 64 connections, first straight at the instance and through the
/// proxy in turns (the same run, so the same machine load), then through the proxy for 30 s while three blue-green
/// switches and a canary run. No request may fail, ever; the figures are printed for every run.
/// </summary>
[Collection(LocalTargetCollection.Name)]
public sealed class ProxyLoadTests(SampleReleaseFixture sample) : LocalTargetTestBase(sample)
{
    private const int Connections = 64;
    private static readonly TimeSpan Steady = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Switching = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Flipping = TimeSpan.FromSeconds(10);

    [Fact(Timeout = 240_000)]
    public async Task Sixty_four_connections_through_blue_green_switches_and_a_canary_fail_no_request()
    {
        var ct = TestContext.Current.CancellationToken;
        var engine = new RolloutEngine(Target, new RolloutEngineOptions
        {
            StateDirectory = StateDirectory,
            StartTimeout = TimeSpan.FromSeconds(60),
            PollInterval = TimeSpan.FromMilliseconds(100),
            Drain = TimeSpan.FromSeconds(2),
            GetEnvironmentVariable = _ => null,
        });
        await DeployAsync(engine, "v1", RolloutStrategy.BlueGreen(1));
        var proxy = new Uri(await ProxyAsync(), LoadPath);
        ct.ThrowIfCancellationRequested();
        var instance = new Uri((await Target.ObserveAsync(Scope, Ct)).Instances.Single().Address, LoadPath);

        // Warm both paths (JIT, connection pools) before anything is measured.
        var runs = new List<(string What, WrkResult Result)>
        {
            ("warm-up direct", await Wrk.RunAsync(instance, Connections, TimeSpan.FromSeconds(3), ct: Ct)),
            ("warm-up proxy", await Wrk.RunAsync(proxy, Connections, TimeSpan.FromSeconds(3), ct: Ct)),
        };

        // Alternating, so that whatever else the machine does weighs on both sides alike. The CPU each process
        // spends per request says what the proxy costs whatever else runs on the machine.
        using var control = await LocalHostControl.TryConnectAsync(StateDirectory, Ct);
        using var host = System.Diagnostics.Process.GetProcessById(control!.HostProcessId);
        using var app = System.Diagnostics.Process.GetProcessById((await control.ListAsync(Ct)).Single().Pid);
        var direct = new List<WrkResult>();
        var proxied = new List<WrkResult>();
        TimeSpan appDirect = default, appProxied = default, hostProxied = default;
        for (var round = 0; round < 2; round++)
        {
            var before = app.TotalProcessorTime;
            direct.Add(await Wrk.RunAsync(instance, Connections, Steady, ct: Ct));
            app.Refresh();
            appDirect += app.TotalProcessorTime - before;
            (before, var hostBefore) = (app.TotalProcessorTime, host.TotalProcessorTime);
            proxied.Add(await Wrk.RunAsync(proxy, Connections, Steady, ct: Ct));
            app.Refresh();
            host.Refresh();
            appProxied += app.TotalProcessorTime - before;
            hostProxied += host.TotalProcessorTime - hostBefore;
        }

        runs.AddRange(direct.Select(r => ("direct", r)));
        runs.AddRange(proxied.Select(r => ("proxy", r)));

        var load = Wrk.RunAsync(proxy, Connections, Switching, ct: Ct);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(1), Ct);
        foreach (var (release, strategy) in new[]
        {
            ("v2", RolloutStrategy.BlueGreen(1)),
            ("v3", RolloutStrategy.BlueGreen(1)),
            ("v4", RolloutStrategy.BlueGreen(1)),
            ("v5", RolloutStrategy.Canary(1, [10, 50, 100], pauseBetween: TimeSpan.FromSeconds(1))),
        })
        {
            await DeployAsync(engine, release, strategy);
        }

        var rolledOutIn = clock.Elapsed;
        var switching = await load;
        runs.Add(("rollouts", switching));

        // The proxy's own part of a switch, apart from the new process's start: two warm groups, and the weights
        // flipped between them under load, so the first flip meets an empty connection pool to the other group.
        var current = (await Target.ObserveAsync(Scope, Ct)).Instances.Single().Group;
        var other = await LaunchAsync("flip", 1, Sample.As("v5"));
        await WaitHealthAsync(other);
        runs.Add(("flip warm-up", await Wrk.RunAsync(new Uri(other.Single().Address, LoadPath), Connections, TimeSpan.FromSeconds(2), ct: Ct)));
        var flips = Wrk.RunAsync(proxy, Connections, Flipping, ct: Ct);
        for (var flip = 1; flip <= 3; flip++)
        {
            await Task.Delay(Flipping / 4, Ct);
            var toOther = flip % 2 == 1;
            await Target.RouteAsync(Scope, new Dictionary<string, int> { [current] = toOther ? 0 : 100, ["flip"] = toOther ? 100 : 0 }, Ct);
        }

        var flipped = await flips;
        runs.Add(("flips", flipped));

        var figures = string.Create(CultureInfo.InvariantCulture,
            $"load local: direct {Merge(direct).Summary} | proxy {Merge(proxied).Summary} | switch p99 {flipped.P99:0.00} (rollouts p99 {switching.P99:0.00}) | errors {runs.Sum(r => r.Result.SocketErrors + r.Result.BadStatus)}");
        var ratio = string.Create(CultureInfo.InvariantCulture,
            $"load local ratios: proxy/direct rps {Merge(proxied).RequestsPerSecond / Merge(direct).RequestsPerSecond:0.00}, switch p99/steady p99 {flipped.P99 / Merge(proxied).P99:0.00} (rollouts {switching.P99 / Merge(proxied).P99:0.00}); rollouts took {rolledOutIn.TotalSeconds:0.0} s of the {Switching.TotalSeconds:0} s; CPU per request: instance {PerRequest(appDirect, direct)} us direct, {PerRequest(appProxied, proxied)} us proxied, proxy {PerRequest(hostProxied, proxied)} us");
        Report(figures, ratio, runs);

        Assert.All(runs, r => Assert.True(r.Result.SocketErrors == 0 && r.Result.BadStatus == 0, $"{r.What}: {r.Result.Errors}"));
        // Held in five runs on a busy 2-core machine at 0.60-1.20; the rps ratio (0.46-0.74 there) and the p99
        // across whole rollouts (2-25x, the new process's own start) are figures only: they measure the machine.
        Assert.True(flipped.P99 <= 2 * Merge(proxied).P99, $"a switch between warm groups raised p99 from {Merge(proxied).P99:0.00} to {flipped.P99:0.00} ms (more than 2x)");
        Assert.True(rolledOutIn < Switching, $"the rollouts took {rolledOutIn.TotalSeconds:0.0} s, longer than the {Switching.TotalSeconds:0} s of load they were to run under");
        Assert.Equal("v5", (await VersionAsync(await ProxyAsync())).ReleaseId);
        Assert.Equal(100, (await Target.ObserveAsync(Scope, Ct)).WeightsByGroup["flip"]);
    }

    /// <summary>The sample's cheapest answer: what is measured is the proxy, not the app's work.</summary>
    private const string LoadPath = "healthz";

    private async Task DeployAsync(RolloutEngine engine, string release, RolloutStrategy strategy)
    {
        var result = await engine.DeployAsync(Scope, Sample.As(release), strategy, Ct);
        Assert.True(result.Succeeded, $"{release}: {result.Reason}");
    }

    private static string PerRequest(TimeSpan cpu, IReadOnlyList<WrkResult> runs) =>
        (cpu.TotalMicroseconds / runs.Sum(r => r.Requests)).ToString("0", CultureInfo.InvariantCulture);

    /// <summary>Runs of equal length as one: requests add up; percentiles are the runs' mean (close enough for runs this alike).</summary>
    private static WrkResult Merge(IReadOnlyList<WrkResult> runs) => new(
        runs.Sum(r => r.Requests),
        runs.Sum(r => r.Seconds),
        runs.Average(r => r.P50),
        runs.Average(r => r.P90),
        runs.Average(r => r.P99),
        runs.Max(r => r.Max),
        runs.Sum(r => r.ConnectErrors),
        runs.Sum(r => r.ReadErrors),
        runs.Sum(r => r.WriteErrors),
        runs.Sum(r => r.Timeouts),
        runs.Sum(r => r.BadStatus));

    private static void Report(string figures, string ratio, IEnumerable<(string What, WrkResult Result)> runs)
    {
        var lines = new List<string> { figures, ratio };
        lines.AddRange(runs.Select(r => string.Create(CultureInfo.InvariantCulture, $"  {r.What}: {r.Result.Summary} p90 {r.Result.P90:0.00} max {r.Result.Max:0.00} ({r.Result.Requests} requests; {r.Result.Errors})")));
        foreach (var line in lines)
        {
            TestContext.Current.TestOutputHelper?.WriteLine(line);
            Console.WriteLine(line);
        }

        Directory.CreateDirectory(TestEnvironment.RunDir);
        File.AppendAllLines(Path.Combine(TestEnvironment.RunDir, "load-figures.txt"), lines);
    }
}
