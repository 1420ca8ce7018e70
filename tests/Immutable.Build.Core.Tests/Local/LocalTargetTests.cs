using Immutable.Build.Targets.Local;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Immutable.Build.Images;
using Immutable.Build.Targets;

namespace Immutable.Build.Core.Tests.Local;

[Collection(LocalTargetCollection.Name)]
public sealed class LocalTargetTests(SampleReleaseFixture sample) : LocalTargetTestBase(sample)
{
    [Fact]
    public async Task Launches_replicas_that_answer_directly_and_through_the_proxy()
    {
        var launched = await LaunchAsync("blue", 2);
        await WaitHealthAsync(launched);
        await Target.RouteAsync(Scope, new Dictionary<string, int> { ["blue"] = 100 }, Ct);

        var state = await Target.ObserveAsync(Scope, Ct);
        Assert.Equal(2, launched.Count);
        Assert.NotEqual(launched[0].Address, launched[1].Address);
        Assert.All(state.Instances, i =>
        {
            Assert.Equal("blue", i.Group);
            Assert.Equal(Sample.Release.ReleaseId, i.ReleaseId);
            Assert.Equal(Sample.Digest.Value, i.ImageDigest);
            Assert.Equal("running", i.Status);
            Assert.Equal(Scope, i.Scope);
        });
        Assert.Equal(launched.Select(i => i.Id).Order(), state.Instances.Select(i => i.Id).Order());
        Assert.Equal(100, state.WeightsByGroup["blue"]);
        Assert.NotNull(state.Entrypoint);
        Assert.Equal(HttpStatusCode.OK, await StatusOfAsync(new Uri(state.Entrypoint, "healthz")));

        // The release identity reaches the app through its environment.
        using var version = System.Text.Json.JsonDocument.Parse(await Http.GetStringAsync(new Uri(state.Entrypoint, "version"), Ct));
        Assert.Equal(Sample.Release.ReleaseId, version.RootElement.GetProperty("releaseId").GetString());
        Assert.Equal(Sample.Digest.Value, version.RootElement.GetProperty("imageDigest").GetString());
        Assert.True(Directory.Exists(Target.ReleaseDirectory(Sample.Digest)), "the release is unpacked once into the state directory");
    }

    [Fact]
    public async Task Switching_weights_under_a_request_loop_fails_no_request()
    {
        var blue = await LaunchAsync("blue", 2, Sample.As("v1"));
        var green = await LaunchAsync("green", 2, Sample.As("v2"));
        await WaitHealthAsync([.. blue, .. green]);
        await Target.RouteAsync(Scope, new Dictionary<string, int> { ["blue"] = 100, ["green"] = 0 }, Ct);
        var proxy = await ProxyAsync();

        var results = new ConcurrentBag<(long Started, long Ended, string? Release, string? Failure)>();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var sent = 0;
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            // Bounded: at most 20,000 requests, on loopback only.
            while (!stop.IsCancellationRequested && Interlocked.Increment(ref sent) <= 20_000)
            {
                var started = clock.ElapsedTicks;
                var (release, failure) = await VersionAsync(proxy);
                results.Add((started, clock.ElapsedTicks, release, failure));
            }
        })).ToList();

        await Task.Delay(1000, Ct);
        var switchStarted = clock.ElapsedTicks;
        await Target.RouteAsync(Scope, new Dictionary<string, int> { ["blue"] = 0, ["green"] = 100 }, Ct);
        var switched = clock.ElapsedTicks;
        await Task.Delay(1000, Ct);
        await Target.DecommissionAsync(Scope, "blue", TimeSpan.FromSeconds(5), Ct);
        await Task.Delay(500, Ct);
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        var all = results.ToList();
        TestContext.Current.TestOutputHelper?.WriteLine($"{all.Count} requests, {all.Count(r => r.Release == "v1")} from v1, {all.Count(r => r.Release == "v2")} from v2");
        Assert.True(all.Count > 100, $"only {all.Count} requests were made");
        Assert.Empty(all.Where(r => r.Failure is not null).Select(r => r.Failure));
        Assert.All(all.Where(r => r.Ended < switchStarted), r => Assert.Equal("v1", r.Release));
        Assert.All(all.Where(r => r.Started > switched), r => Assert.Equal("v2", r.Release));
        Assert.Contains(all, r => r.Ended < switchStarted);
        Assert.Contains(all, r => r.Started > switched);
        var state = await Target.ObserveAsync(Scope, Ct);
        Assert.All(state.Instances, i => Assert.Equal("green", i.Group));
        Assert.False(state.WeightsByGroup.ContainsKey("blue"));
    }

    [Fact]
    public async Task Splits_traffic_by_weight()
    {
        var blue = await LaunchAsync("blue", 1, Sample.As("v1"));
        var green = await LaunchAsync("green", 2, Sample.As("v2"));
        await WaitHealthAsync([.. blue, .. green]);
        await Target.RouteAsync(Scope, new Dictionary<string, int> { ["blue"] = 10, ["green"] = 90 }, Ct);
        var proxy = await ProxyAsync();

        var counts = new Dictionary<string, int>();
        const int Requests = 400;
        for (var n = 0; n < Requests; n++)
        {
            var (release, failure) = await VersionAsync(proxy);
            Assert.Null(failure);
            counts[release!] = counts.GetValueOrDefault(release!) + 1;
        }

        var bluePercent = 100.0 * counts.GetValueOrDefault("v1") / Requests;
        TestContext.Current.TestOutputHelper?.WriteLine($"blue (10%): {bluePercent:0.#}% of {Requests}");
        Assert.InRange(bluePercent, 0, 20);
        Assert.InRange(100 - bluePercent, 80, 100);
    }

    [Fact]
    public async Task A_killed_instance_is_never_routed_to()
    {
        var launched = await LaunchAsync("blue", 2);
        await WaitHealthAsync(launched);
        await Target.RouteAsync(Scope, new Dictionary<string, int> { ["blue"] = 100 }, Ct);
        var proxy = await ProxyAsync();
        using var control = await LocalHostControl.TryConnectAsync(StateDirectory, Ct);
        var instances = await control!.ListAsync(Ct);

        Process.GetProcessById(instances[0].Pid).Kill();
        for (var n = 0; n < 200; n++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusOfAsync(new Uri(proxy, "healthz")));
        }

        var state = await Target.ObserveAsync(Scope, Ct);
        Assert.Equal("exited", state.Instances.Single(i => i.Id == instances[0].Id).Status);

        // With every instance dead the proxy has nowhere to go: it says so (503), it does not try the dead (502).
        Process.GetProcessById(instances[1].Pid).Kill();
        await WaitUntilAsync(async () => (await Target.ObserveAsync(Scope, Ct)).Instances.All(i => i.Status == "exited"), TimeSpan.FromSeconds(10), "both instances reported exited");
        using var response = await Http.GetAsync(new Uri(proxy, "healthz"), Ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("no live instance", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_that_cannot_connect_is_retried_on_another_live_instance()
    {
        // Kestrel's endpoint configuration wins over ASPNETCORE_URLS: this blue instance runs but its port refuses connections.
        using var elsewhere = new TcpListener(IPAddress.Loopback, 0);
        elsewhere.Start();
        var port = ((IPEndPoint)elsewhere.LocalEndpoint).Port;
        elsewhere.Stop();
        var deaf = await LaunchAsync("blue", 1, Sample.As("v1"), new Dictionary<string, string> { ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{port}" });
        var green = await LaunchAsync("green", 1, Sample.As("v2"));
        await WaitHealthAsync(green);
        await WaitUntilAsync(async () => await StatusOfAsync(new Uri($"http://127.0.0.1:{port}/healthz")) == HttpStatusCode.OK, TimeSpan.FromSeconds(60), "the blue instance on its own port");
        await Target.RouteAsync(Scope, new Dictionary<string, int> { ["blue"] = 50, ["green"] = 50 }, Ct);
        var proxy = await ProxyAsync();

        for (var n = 0; n < 100; n++)
        {
            var (release, failure) = await VersionAsync(proxy);
            Assert.Null(failure);
            Assert.Equal("v2", release);
        }

        var state = await Target.ObserveAsync(Scope, Ct);
        Assert.Equal("starting", state.Instances.Single(i => i.Id == deaf[0].Id).Status);
    }

    [Fact]
    public async Task Unhealthy_replicas_report_503()
    {
        var launched = await LaunchAsync("canary", 2, environment: new Dictionary<string, string> { ["HELLO_FAIL_HEALTH"] = "true" });

        await WaitHealthAsync(launched, HttpStatusCode.ServiceUnavailable);

        var state = await Target.ObserveAsync(Scope, Ct);
        Assert.Equal(2, state.Instances.Count(i => i.Group == "canary" && i.Status == "running"));
        Assert.Empty(state.WeightsByGroup);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task The_host_outlives_the_process_that_started_it()
    {
        // A shell capturing the starter's output waits for every holder of its pipe: a host that kept it would hang here.
        var starter = await ProcessRunner.RunAsync(
            "bash",
            ["-c", "out=$(dotnet \"$0\" ensure --state-dir \"$1\"); echo \"$out\"", SampleReleaseFixture.HostAssembly, StateDirectory],
            timeout: TimeSpan.FromSeconds(60),
            cancellationToken: Ct);
        starter.EnsureSuccess("starting the host from a child shell");
        Assert.Contains("answers on 127.0.0.1:", starter.StandardOutput, StringComparison.Ordinal);

        using var control = await LocalHostControl.TryConnectAsync(StateDirectory, Ct);
        Assert.NotNull(control);
        var stat = (await File.ReadAllTextAsync($"/proc/{control.HostProcessId}/stat", Ct)).Split(')')[1].Split(' ');
        Assert.Equal(control.HostProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), stat[4]); // its own session
        Assert.NotEqual(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), stat[2]);
        Assert.Equal("/dev/null", new FileInfo($"/proc/{control.HostProcessId}/fd/0").LinkTarget);
        Assert.Equal(Path.Combine(StateDirectory, LocalHostControl.HostLogName), new FileInfo($"/proc/{control.HostProcessId}/fd/1").LinkTarget);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(StateDirectory, LocalHostControl.HostFileName)));

        // The target uses the host it finds instead of starting another.
        var launched = await LaunchAsync("blue", 1);
        await WaitHealthAsync(launched);
        using var again = await LocalHostControl.TryConnectAsync(StateDirectory, Ct);
        Assert.Equal(control.HostProcessId, again!.HostProcessId);
    }

    [Fact]
    public async Task Local_stop_leaves_no_process_behind()
    {
        var launched = await LaunchAsync("blue", 2);
        await WaitHealthAsync(launched);
        await Target.RouteAsync(Scope, new Dictionary<string, int> { ["blue"] = 100 }, Ct);
        var proxy = await ProxyAsync();
        int hostPid;
        IReadOnlyList<int> instancePids;
        using (var control = await LocalHostControl.TryConnectAsync(StateDirectory, Ct))
        {
            hostPid = control!.HostProcessId;
            instancePids = (await control.ListAsync(Ct)).Select(i => i.Pid).ToList();
        }

        Assert.True(await LocalHostControl.StopAsync(StateDirectory, TimeSpan.FromSeconds(5), Ct));

        Assert.All(instancePids.Append(hostPid), pid => Assert.False(IsAlive(pid), $"pid {pid} is still running"));
        Assert.False(File.Exists(Path.Combine(StateDirectory, LocalHostControl.HostFileName)));
        Assert.Null(await StatusOfAsync(new Uri(proxy, "healthz")));
        Assert.Empty((await Target.ObserveAsync(Scope, Ct)).Instances);
        Assert.False(await LocalHostControl.StopAsync(StateDirectory, TimeSpan.FromSeconds(5), Ct));
    }

    [Fact]
    public async Task A_restarted_host_kills_the_orphans_of_the_previous_one()
    {
        var launched = await LaunchAsync("blue", 2);
        await WaitHealthAsync(launched);
        await Target.RouteAsync(Scope, new Dictionary<string, int> { ["blue"] = 100 }, Ct);
        var proxyPort = (await ProxyAsync()).Port;
        int hostPid;
        IReadOnlyList<int> orphans;
        using (var control = await LocalHostControl.TryConnectAsync(StateDirectory, Ct))
        {
            hostPid = control!.HostProcessId;
            orphans = (await control.ListAsync(Ct)).Select(i => i.Pid).ToList();
        }

        Process.GetProcessById(hostPid).Kill();
        await WaitUntilAsync(() => Task.FromResult(!IsAlive(hostPid)), TimeSpan.FromSeconds(10), "the host to die");
        Assert.All(orphans, pid => Assert.True(IsAlive(pid), "instances outlive a killed host"));

        // Routing again starts a new host: it reaps the orphans and serves the scope on its old port.
        await Target.RouteAsync(Scope, new Dictionary<string, int> { ["blue"] = 100 }, Ct);
        Assert.All(orphans, pid => Assert.False(IsAlive(pid), $"orphan {pid} is still running"));
        Assert.Equal(proxyPort, (await ProxyAsync()).Port);
    }

    [Fact]
    public async Task Prune_removes_unpacked_releases_that_are_neither_kept_nor_running()
    {
        var launched = await LaunchAsync("blue", 1);
        var folder = Target.ReleaseDirectory(Sample.Digest);

        await Target.PruneAsync(Scope, [], Ct);
        Assert.True(Directory.Exists(folder), "a running release is never pruned");

        await Target.DecommissionAsync(Scope, "blue", TimeSpan.Zero, Ct);
        await Target.PruneAsync(Scope, [Sample.Digest.Value], Ct);
        Assert.True(Directory.Exists(folder), "a kept release stays");

        await Target.PruneAsync(Scope, [], Ct);
        Assert.False(Directory.Exists(folder));
        Assert.Empty((await Target.ObserveAsync(Scope, Ct)).Instances);

        // Launching again unpacks it again, from the image source by digest.
        var again = await LaunchAsync("blue", 1);
        await WaitHealthAsync(again);
        Assert.Single(launched);
    }

    [Fact]
    public async Task Refuses_weights_that_do_not_sum_to_100_and_invalid_groups()
    {
        var weights = await Assert.ThrowsAsync<ImmutableBuildException>(() => Target.RouteAsync(Scope, new Dictionary<string, int> { ["blue"] = 50, ["green"] = 20 }, Ct));
        var group = await Assert.ThrowsAsync<ImmutableBuildException>(() => LaunchAsync("Blue Group", 1));
        var replicas = await Assert.ThrowsAsync<ImmutableBuildException>(() => LaunchAsync("blue", 0));

        Assert.Equal("IMB7009", weights.Code);
        Assert.Equal("IMB7009", group.Code);
        Assert.Equal("IMB7009", replicas.Code);
        Assert.Null(await LocalHostControl.TryConnectAsync(StateDirectory, Ct));
    }

    [Fact]
    public async Task Two_scopes_get_two_proxies_and_a_taken_port_is_refused()
    {
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var taken = ((IPEndPoint)busy.LocalEndpoint).Port;
        var other = new DeploymentScope("hello-immutable", "staging");
        await Target.RouteAsync(Scope, new Dictionary<string, int>(), Ct);
        await Target.RouteAsync(other, new Dictionary<string, int>(), Ct);

        var first = await ProxyAsync();
        var second = (await Target.ObserveAsync(other, Ct)).Entrypoint!;
        var onTaken = new LocalTarget(new LocalTargetOptions(StateDirectory, SampleReleaseFixture.HostAssembly, taken));
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => onTaken.RouteAsync(new DeploymentScope("hello-immutable", "qa"), new Dictionary<string, int>(), Ct));

        Assert.NotEqual(first.Port, second.Port);
        Assert.Equal("IMB7004", e.Code);
    }

    [Fact]
    public void The_default_state_directory_follows_the_environment()
    {
        Assert.Equal("/x/state", LocalTargetOptions.DefaultStateDirectory(n => n == "IMMUTABLE_STATE_DIR" ? "/x/state" : null));
        Assert.Equal("/xdg/immutable-build", LocalTargetOptions.DefaultStateDirectory(n => n switch { "XDG_STATE_HOME" => "/xdg", "HOME" => "/home/u", _ => null }));
        Assert.Equal("/home/u/.local/state/immutable-build", LocalTargetOptions.DefaultStateDirectory(n => n == "HOME" ? "/home/u" : null));
    }
}
