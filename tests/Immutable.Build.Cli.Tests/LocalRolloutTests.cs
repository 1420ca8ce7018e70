using Immutable.Build.Targets.Local;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Immutable.Build.Targets;

namespace Immutable.Build.Cli.Tests;

/// <summary>
/// Rollouts on the local target through the real entry points: `dotnet publish -p:ImmutableTarget=local`
/// of the sample and the `immutable` CLI, with the real host, proxy and instance processes.
/// </summary>
public sealed partial class LocalRolloutTests : IAsyncLifetime
{
    private readonly string _state = TestEnvironment.NewWorkDir("local-state");
    private readonly int _port = TestNetwork.FreePort();
    private SampleWorkspace _workspace = null!;

    private static string Cli => Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.Cli", "bin", "Release", "net8.0", "immutable.dll");

    private Uri Proxy => new($"http://127.0.0.1:{_port}/");

    public async ValueTask InitializeAsync() => _workspace = await SampleWorkspace.CreateAsync();

    public async ValueTask DisposeAsync()
    {
        await ProcessRunner.RunAsync("dotnet", [Cli, "local", "stop", "--state-dir", _state], timeout: TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task Blue_green_from_publish_switches_from_v1_to_v2_with_no_failed_request()
    {
        var v1 = await PublishAsync("bluegreen", 2);
        await using var loop = RequestLoop.Start(Proxy);
        await loop.WaitForAnswersAsync(20);
        var v2 = await ChangeAndPublishAsync("Hello v2", "bluegreen", 2);
        await loop.WaitForReleaseAsync(v2);
        var result = await loop.StopAsync();

        Assert.Equal(0, result.Failed);
        Assert.True(result.Answers.Count > 40, $"only {result.Answers.Count} answers");
        // v1 until the switch, v2 after it, never back.
        var firstV2 = result.Answers.IndexOf(v2);
        Assert.True(firstV2 > 0, "no answer from v2");
        Assert.All(result.Answers.Take(firstV2), a => Assert.Equal(v1, a));
        Assert.All(result.Answers.Skip(firstV2), a => Assert.Equal(v2, a));
        Assert.True(File.Exists(Path.Combine(_workspace.ProjectDir, "bin", "Release", "net10.0", "immutable", "rollout.md")));
    }

    [Fact]
    public async Task Canary_steps_split_traffic_by_their_weights()
    {
        var v1 = await PublishAsync("bluegreen", 1);
        var v2Release = await ChangeAndPublishAsync("Hello canary", strategy: null, replicas: 0);
        var v2 = v2Release;
        Assert.NotEqual(v1, v2);

        // Deploy the built v2 as a canary from the CLI, sampling the proxy at each step's pause.
        var manifest = Path.Combine(_workspace.ProjectDir, "bin", "Release", "net10.0", "immutable", "release.json");
        var deploy = StartCli(["deploy", manifest, "--state-dir", _state, "--local-port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--strategy", "canary", "--canary-steps", "10;50;100", "--canary-pause", "8s", "--replicas", "2"]);
        var measured = new Dictionary<int, double>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        while (await deploy.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken) is { } line)
        {
            var step = ShiftLine().Match(line);
            if (!step.Success)
            {
                continue;
            }

            var weight = int.Parse(step.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (weight == 100)
            {
                continue; // the last step has no pause to sample in
            }

            var fromV2 = 0;
            for (var i = 0; i < 200; i++)
            {
                fromV2 += ReleaseOf(await http.GetStringAsync(Proxy, TestContext.Current.CancellationToken)) == v2 ? 1 : 0;
            }

            measured[weight] = fromV2 / 2.0;
        }

        await deploy.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(0, deploy.ExitCode);
        Assert.Equal([10, 50], measured.Keys.Order());
        foreach (var (weight, percent) in measured)
        {
            Assert.InRange(percent, weight - 10, weight + 10);
        }

        Assert.Equal(v2, ReleaseOf(await http.GetStringAsync(Proxy, TestContext.Current.CancellationToken)));
    }

    [Fact]
    public async Task A_release_whose_healthz_fails_is_rolled_back_gets_no_traffic_and_the_ledger_says_so()
    {
        var v1 = await PublishAsync("bluegreen", 2);
        await using var loop = RequestLoop.Start(Proxy);
        await loop.WaitForAnswersAsync(10);

        // The failure is baked into the release: an environment variable in its image config.
        var csproj = Path.Combine(_workspace.ProjectDir, "HelloImmutable.csproj");
        await File.WriteAllTextAsync(csproj, (await File.ReadAllTextAsync(csproj)).Replace("</Project>", "  <ItemGroup><ContainerEnvironmentVariable Include=\"HELLO_FAIL_HEALTH\" Value=\"true\" /></ItemGroup>\n</Project>", StringComparison.Ordinal));
        await _workspace.CommitAllAsync("a broken release");
        var broken = await _workspace.PublishAsync(PublishArgs("bluegreen", 2, healthTimeout: "8s"));
        var result = await loop.StopAsync();

        Assert.NotEqual(0, broken.ExitCode);
        Assert.Contains("IMB6005", broken.Output, StringComparison.Ordinal);
        Assert.Equal(0, result.Failed);
        Assert.All(result.Answers, a => Assert.Equal(v1, a));

        var history = await RunCliAsync("history", "--app", "hello-immutable", "--state-dir", _state, "--output", "json");
        using var ledger = JsonDocument.Parse(history.StandardOutput);
        var last = ledger.RootElement.EnumerateArray().Last(e => e.GetProperty("type").GetString() == "rollout");
        Assert.Equal("rolled-back", last.GetProperty("outcome").GetString());
        var status = await RunCliAsync("status", "--app", "hello-immutable", "--state-dir", _state, "--local-port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--output", "json");
        Assert.Equal(0, status.ExitCode);
        using var statusJson = JsonDocument.Parse(status.StandardOutput);
        Assert.Equal(v1, statusJson.RootElement.GetProperty("current").GetProperty("releaseId").GetString());
    }

    [Fact]
    public async Task A_deploy_killed_at_any_step_is_converged_by_the_next_command_without_orphans()
    {
        await PublishAsync("bluegreen", 1);
        var v2 = await ChangeAndPublishAsync("Hello killed", strategy: null, replicas: 0);
        var manifest = Path.Combine(_workspace.ProjectDir, "bin", "Release", "net10.0", "immutable", "release.json");
        for (var step = 1; step <= 6; step++)
        {
            var deploy = StartCli(["deploy", manifest, "--state-dir", _state, "--local-port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--replicas", "1"]);
            while (await deploy.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken) is { } line)
            {
                if (line.Contains($"step {step}/", StringComparison.Ordinal))
                {
                    deploy.Kill(entireProcessTree: true); // SIGKILL
                    break;
                }
            }

            await deploy.WaitForExitAsync(TestContext.Current.CancellationToken);
            var repaired = await RunCliAsync("status", "--app", "hello-immutable", "--state-dir", _state, "--local-port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--repair", "--output", "json");
            Assert.True(repaired.ExitCode == 0, $"after a kill at step {step}: {repaired.Output}");
            using var status = JsonDocument.Parse(repaired.StandardOutput);
            var groups = status.RootElement.GetProperty("groups").EnumerateArray().ToList();
            Assert.True(groups.Count == 1, $"after a kill at step {step}, groups: {repaired.StandardOutput}");
            Assert.Equal(100, groups[0].GetProperty("weight").GetInt32());
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            for (var i = 0; i < 20; i++)
            {
                using var response = await http.GetAsync(Proxy, TestContext.Current.CancellationToken);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            // Put v1 back for the next round when the killed rollout had already been finished forward.
            if (status.RootElement.GetProperty("current").GetProperty("releaseId").GetString() == v2)
            {
                (await RunCliAsync("rollback", "--app", "hello-immutable", "--state-dir", _state, "--local-port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture))).EnsureSuccess("rollback");
            }
        }

        var instances = InstanceProcesses();
        Assert.True(instances.Count == 1, $"instance processes: {string.Join("; ", instances)}");
    }

    [Fact]
    public async Task Two_concurrent_deploys_never_run_together()
    {
        await PublishAsync("bluegreen", 1);
        await ChangeAndPublishAsync("Hello concurrent", strategy: null, replicas: 0);
        var manifest = Path.Combine(_workspace.ProjectDir, "bin", "Release", "net10.0", "immutable", "release.json");
        string[] args = ["deploy", manifest, "--state-dir", _state, "--local-port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--replicas", "2"];
        var both = await Task.WhenAll(RunCliAsync(args), RunCliAsync(args));
        Assert.Contains(both, r => r.ExitCode == 0);
        Assert.All(both, r => Assert.True(r.ExitCode == 0 || r.Output.Contains("IMB6004", StringComparison.Ordinal), r.Output));

        // The ledger shows the rollouts one after the other.
        var history = await RunCliAsync("history", "--app", "hello-immutable", "--state-dir", _state, "--output", "json");
        using var ledger = JsonDocument.Parse(history.StandardOutput);
        var rollouts = ledger.RootElement.EnumerateArray().Where(e => e.GetProperty("type").GetString() == "rollout")
            .Select(e => (Start: e.GetProperty("startedAt").GetDateTimeOffset(), End: e.GetProperty("endedAt").GetDateTimeOffset())).OrderBy(r => r.Start).ToList();
        for (var i = 1; i < rollouts.Count; i++)
        {
            Assert.True(rollouts[i].Start >= rollouts[i - 1].End, "two rollouts overlapped");
        }
    }

    [Fact]
    public async Task Rollback_restores_the_previous_release_by_digest_after_it_was_pruned()
    {
        var v1 = await PublishAsync("bluegreen", 1);
        var v2 = await ChangeAndPublishAsync("Hello pruned", "bluegreen", 1);
        (await RunCliAsync("prune", "--app", "hello-immutable", "--state-dir", _state, "--retain", "0")).EnsureSuccess("prune");
        var releases = Path.Combine(_state, "releases");
        Assert.Single(Directory.GetDirectories(releases)); // only v2's unpacked files are left

        (await RunCliAsync("rollback", "--app", "hello-immutable", "--state-dir", _state, "--local-port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture))).EnsureSuccess("rollback");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(v1, ReleaseOf(await http.GetStringAsync(Proxy, TestContext.Current.CancellationToken)));
        Assert.NotEqual(v1, v2);
    }

    [Fact]
    public async Task A_canary_whose_error_ratio_crosses_the_prometheus_threshold_is_aborted_and_rolled_back()
    {
        var v1 = await PublishAsync("bluegreen", 1);
        // The bad release: half of its answers are 500s, baked into its image config.
        var csproj = Path.Combine(_workspace.ProjectDir, "HelloImmutable.csproj");
        await File.WriteAllTextAsync(csproj, (await File.ReadAllTextAsync(csproj)).Replace("</Project>", "  <ItemGroup><ContainerEnvironmentVariable Include=\"HELLO_ERROR_RATE\" Value=\"0.5\" /></ItemGroup>\n</Project>", StringComparison.Ordinal));
        var v2 = await ChangeAndPublishAsync("Hello erroring canary", strategy: null, replicas: 0);
        var manifest = Path.Combine(_workspace.ProjectDir, "bin", "Release", "net10.0", "immutable", "release.json");

        var prometheus = await Infra("prometheus.sh", "start");
        Assert.True(prometheus.ExitCode == 0, "Prometheus could not be started: " + prometheus.Output);
        var address = (await File.ReadAllTextAsync(Path.Combine(TestEnvironment.InfraDir, "run", "prometheus.addr"))).Trim();
        try
        {
            await using var loop = RequestLoop.Start(Proxy);
            await loop.WaitForAnswersAsync(10);
            var query = "sum(rate(hello_http_request_errors_total{release=\"{release}\"}[5s])) / sum(rate(hello_http_requests_total{release=\"{release}\",path=\"/\"}[5s]))";
            var deploy = StartCli(["deploy", manifest, "--state-dir", _state, "--local-port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--strategy", "canary", "--canary-steps", "20;50;100", "--replicas", "1",
                "--analysis-window", "20s", "--prometheus-url", $"http://{address}/", "--prometheus-query", query, "--prometheus-condition", "< 0.2"]);
            var output = new System.Text.StringBuilder();
            var scraping = false;
            while (await deploy.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken) is { } line)
            {
                output.AppendLine(line);
                if (!scraping && ShiftLine().IsMatch(line))
                {
                    // Now the canary runs: point Prometheus at every instance of the app (their ports are only known now).
                    var target = new LocalTarget(new LocalTargetOptions(_state, Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.LocalHost", "bin", "Release", "net8.0", "Immutable.Build.LocalHost.dll"), _port));
                    var observed = await target.ObserveAsync(new DeploymentScope("hello-immutable", "default"), TestContext.Current.CancellationToken);
                    var targets = observed.Instances.Select(i => $"{i.Address.Host}:{i.Address.Port}").ToArray();
                    (await Infra("prometheus.sh", ["start", .. targets])).EnsureSuccess("prometheus.sh start " + string.Join(' ', targets));
                    scraping = true;
                }
            }

            await deploy.WaitForExitAsync(TestContext.Current.CancellationToken);
            var result = await loop.StopAsync();
            Assert.True(deploy.ExitCode != 0, output.ToString());
            Assert.Contains("IMB6005", ErrorsOf(deploy) + output, StringComparison.Ordinal);
            Assert.Matches(@"which is not < 0\.2", output.ToString() + File.ReadAllText(Path.Combine(_state, "rollouts", "hello-immutable.default", "last-report.md")));
            Assert.Contains(v2, result.Answers); // the canary did take traffic before it was aborted
            Assert.Equal(v1, result.Answers[^1]);
            var status = await RunCliAsync("status", "--app", "hello-immutable", "--state-dir", _state, "--local-port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--output", "json");
            using var statusJson = JsonDocument.Parse(status.StandardOutput);
            Assert.Equal(v1, statusJson.RootElement.GetProperty("current").GetProperty("releaseId").GetString());
        }
        finally
        {
            await Infra("prometheus.sh", "stop");
        }
    }

    private static Task<ProcessResult> Infra(string script, params string[] args) =>
        ProcessRunner.RunAsync("bash", [Path.Combine(TestEnvironment.InfraScripts, script), .. args], environment: new Dictionary<string, string?> { ["IMMUTABLE_INFRA_DIR"] = TestEnvironment.InfraDir }, timeout: TimeSpan.FromMinutes(3));

    private string[] PublishArgs(string? strategy, int replicas, string? healthTimeout = null)
    {
        var args = new List<string> { "-p:ImmutableTarget=local", $"-p:ImmutableStateDir={_state}", $"-p:ImmutableLocalPort={_port}" };
        if (strategy is not null)
        {
            args.Add($"-p:ImmutableStrategy={strategy}");
        }

        if (replicas > 0)
        {
            args.Add($"-p:ImmutableReplicas={replicas}");
        }
        else
        {
            args[0] = "-p:ImmutableTarget=none";
        }

        if (healthTimeout is not null)
        {
            args.Add($"-p:ImmutableHealthTimeout={healthTimeout}");
        }

        return [.. args];
    }

    private async Task<string> PublishAsync(string? strategy, int replicas)
    {
        var publish = await _workspace.PublishWithResultsAsync(PublishArgs(strategy, replicas), ["ImmutableReleaseId", "ImmutableRolloutOutcome"]);
        Assert.True(publish.Process.ExitCode == 0, publish.Process.Output);
        return publish["ImmutableReleaseId"];
    }

    private async Task<string> ChangeAndPublishAsync(string greeting, string? strategy, int replicas)
    {
        await _workspace.SetGreetingAsync(greeting);
        return await PublishAsync(strategy, replicas);
    }

    private static Task<ProcessResult> RunCliAsync(params string[] args) =>
        ProcessRunner.RunAsync("dotnet", [Cli, .. args], timeout: TimeSpan.FromMinutes(3));

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Process, System.Text.StringBuilder> CliErrors = new();

    private static string ErrorsOf(Process process)
    {
        if (!CliErrors.TryGetValue(process, out var errors))
        {
            return "";
        }

        lock (errors)
        {
            return errors.ToString();
        }
    }

    private static Process StartCli(string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Cli);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info)!;
        var errors = new System.Text.StringBuilder();
        CliErrors.Add(process, errors);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (errors)
                {
                    errors.AppendLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();
        return process;
    }

    // Instance processes of this test's host: they carry the state directory in their command line's working folder.
    private List<string> InstanceProcesses() =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(p => int.TryParse(p, out _))
            .Select(p => (Pid: p!, Cmd: SafeRead($"/proc/{p}/cmdline").Replace('\0', ' ')))
            .Where(p => p.Cmd.Contains(Path.Combine(_state, "releases"), StringComparison.Ordinal))
            .Select(p => $"{p.Pid} {p.Cmd}").ToList();

    private static string SafeRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static string ReleaseOf(string greeting) => RequestLoop.ReleaseOf(greeting);

    [GeneratedRegex(@"shift traffic: \S+ (\d+)%")]
    private static partial Regex ShiftLine();
}
