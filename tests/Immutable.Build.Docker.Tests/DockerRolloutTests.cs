using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Immutable.Build.Docker.Tests;

/// <summary>
/// Rollouts on the Docker target through the real entry points (`dotnet publish -p:ImmutableTarget=docker` of the
/// sample, the `immutable` CLI) against a real engine, pulling from a real registry.
/// </summary>
public sealed class DockerRolloutTests(BaseImagesFixture bases, DockerEngineFixture engine) : DockerScenarioTest(bases, engine)
{

    [Fact]
    public async Task Publish_switches_v1_to_v2_blue_green_with_no_failed_request_then_reports_drift_prunes_and_rolls_back_by_digest()
    {
        var ct = TestContext.Current.CancellationToken;
        var v1 = await Scenario.PublishAsync(replicas: 2, "-p:ImmutableKeepOldFor=2s");
        var first = await Scenario.InstancesAsync(Engine.DockerHost);
        Assert.Equal(2, first.Count);
        Assert.All(first, c =>
        {
            Assert.Equal(v1.ReleaseId, c.Labels["immutable.release"]);
            Assert.Equal(v1.Digest, c.Labels["immutable.digest"]);
            Assert.Equal(Scenario.App, c.Labels["immutable.app"]);
            Assert.Equal("default", c.Labels["immutable.environment"]);
            Assert.StartsWith("r1-", c.Labels["immutable.group"], StringComparison.Ordinal);
            Assert.Equal("running", c.State);
        });

        await using (var loop = RequestLoop.Start(Scenario.ProxyUrl))
        {
            await loop.WaitForAnswersAsync(20);
            var v2 = await Scenario.ChangeAndPublishAsync("Hello docker v2", replicas: 2, "-p:ImmutableKeepOldFor=2s");
            await loop.WaitForReleaseAsync(v2.ReleaseId);
            var result = await loop.StopAsync();

            Assert.Equal(0, result.Failed);
            var firstV2 = result.Answers.IndexOf(v2.ReleaseId);
            Assert.True(firstV2 > 0, "no answer from v2");
            Assert.All(result.Answers.Take(firstV2), a => Assert.Equal(v1.ReleaseId, a));
            Assert.All(result.Answers.Skip(firstV2), a => Assert.Equal(v2.ReleaseId, a));

            // The old containers are gone once the delay has passed; the new ones carry the release.
            var second = await Scenario.InstancesAsync(Engine.DockerHost);
            Assert.Equal(2, second.Count);
            Assert.All(second, c => Assert.Equal(v2.ReleaseId, c.Labels["immutable.release"]));

            // Drift: the app's image started by hand is reported, and left alone.
            using var docker = DockerEndpoint.Parse(Engine.DockerHost).CreateClient();
            var manual = await docker.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Image = $"immutable-release/{Scenario.App}:{v2.Digest["sha256:".Length..]}",
                Name = $"{Scenario.App}-by-hand",
                HostConfig = new HostConfig { NetworkMode = "none" },
            }, ct);
            await docker.Containers.StartContainerAsync(manual.ID, new ContainerStartParameters(), ct);
            var status = await Scenario.CliAsync("status", "--output", "json");
            Assert.True(status.ExitCode == 3, status.Output);
            using (var json = JsonDocument.Parse(status.StandardOutput))
            {
                var drift = json.RootElement.GetProperty("drift").EnumerateArray().ToList();
                Assert.Contains(drift, d => manual.ID.StartsWith(d.GetProperty("instanceId").GetString()!, StringComparison.Ordinal) && d.GetProperty("reason").GetString() == "not created by a rollout");
            }

            await Scenario.CliAsync("deploy", v2.Manifest, "--replicas", "2").ContinueWith(t => Assert.True(t.Result.ExitCode == 0, t.Result.Output), ct);
            Assert.Equal("running", (await docker.Containers.InspectContainerAsync(manual.ID, ct)).State?.Status);
            await docker.Containers.RemoveContainerAsync(manual.ID, new ContainerRemoveParameters { Force = true }, ct);

            // Retention removes v1's image from the host; a rollback pulls it again by digest.
            (await Scenario.CliAsync("prune", "--retain", "0")).EnsureSuccess("prune");
            await Assert.ThrowsAsync<DockerImageNotFoundException>(() => docker.Images.InspectImageAsync($"immutable-release/{Scenario.App}:{v1.Digest["sha256:".Length..]}", ct));
            var rollback = await Scenario.CliAsync("rollback");
            Assert.True(rollback.ExitCode == 0, rollback.Output);
            await docker.Images.InspectImageAsync($"immutable-release/{Scenario.App}:{v1.Digest["sha256:".Length..]}", ct);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            Assert.Equal(v1.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(Scenario.ProxyUrl, ct)));
            Assert.All(await Scenario.InstancesAsync(Engine.DockerHost), c => Assert.Equal(v1.ReleaseId, c.Labels["immutable.release"]));
        }
    }

    [Fact]
    public async Task A_failing_health_check_rolls_back_and_a_rollout_killed_at_any_step_converges_on_the_next_run()
    {
        var ct = TestContext.Current.CancellationToken;
        var v1 = await Scenario.PublishAsync(replicas: 1);
        await using (var loop = RequestLoop.Start(Scenario.ProxyUrl))
        {
            await loop.WaitForAnswersAsync(10);
            var csproj = Path.Combine(Scenario.Workspace.ProjectDir, "HelloImmutable.csproj");
            var original = await File.ReadAllTextAsync(csproj, ct);
            await File.WriteAllTextAsync(csproj, original.Replace("</Project>", "  <ItemGroup><ContainerEnvironmentVariable Include=\"HELLO_FAIL_HEALTH\" Value=\"true\" /></ItemGroup>\n</Project>", StringComparison.Ordinal), ct);
            await Scenario.Workspace.CommitAllAsync("a broken release");
            var broken = await Scenario.Workspace.PublishAsync(Scenario.PublishArgs(1, "-p:ImmutableHealthTimeout=6s"));
            var result = await loop.StopAsync();

            Assert.NotEqual(0, broken.ExitCode);
            Assert.Contains("IMB6005", broken.Output, StringComparison.Ordinal);
            Assert.Equal(0, result.Failed);
            Assert.All(result.Answers, a => Assert.Equal(v1.ReleaseId, a));
            Assert.All(await Scenario.InstancesAsync(Engine.DockerHost), c => Assert.Equal(v1.ReleaseId, c.Labels["immutable.release"]));
            await File.WriteAllTextAsync(csproj, original, ct);
        }

        var v3 = await Scenario.ChangeAndPublishAsync("Hello killed", replicas: 0);
        for (var step = 1; step <= 6; step++)
        {
            var deploy = Scenario.StartCli("deploy", v3.Manifest, "--replicas", "1");
            while (await deploy.StandardOutput.ReadLineAsync(ct) is { } line)
            {
                if (line.Contains($"step {step}/", StringComparison.Ordinal))
                {
                    deploy.Kill(entireProcessTree: true);
                    break;
                }
            }

            await deploy.WaitForExitAsync(ct);
            var repaired = await Scenario.CliAsync("status", "--repair", "--output", "json");
            Assert.True(repaired.ExitCode == 0, $"after a kill at step {step}: {repaired.Output}");
            using var status = JsonDocument.Parse(repaired.StandardOutput);
            var current = status.RootElement.GetProperty("current").GetProperty("releaseId").GetString();
            var instances = await Scenario.InstancesAsync(Engine.DockerHost);
            Assert.True(instances.Count == 1 && instances[0].Labels["immutable.release"] == current, $"after a kill at step {step}: {string.Join(", ", instances.Select(i => i.Labels["immutable.group"]))}, current {current}");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            Assert.Equal(current, RequestLoop.ReleaseOf(await http.GetStringAsync(Scenario.ProxyUrl, ct)));
            if (current == v3.ReleaseId)
            {
                (await Scenario.CliAsync("rollback")).EnsureSuccess("rollback");
            }
        }
    }
}

/// <summary>A release without a registry reaches the engine as a docker-archive made from its OCI layout.</summary>
public sealed class DockerLayoutTests(BaseImagesFixture bases, DockerEngineFixture engine) : DockerScenarioTest(bases, engine)
{

    [Fact]
    public async Task A_release_with_no_registry_is_loaded_from_its_OCI_layout_and_runs()
    {
        var ct = TestContext.Current.CancellationToken;
        var release = await Scenario.PublishAsync(replicas: 1, "-p:ContainerRegistry=");
        using (var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(release.Manifest, ct)))
        {
            Assert.True(manifest.RootElement.GetProperty("image").GetProperty("outputs").TryGetProperty("ociLayout", out _));
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(release.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(Scenario.ProxyUrl, ct)));
        using var docker = DockerEndpoint.Parse(Engine.DockerHost).CreateClient();
        var image = await docker.Images.InspectImageAsync($"immutable-release/{Scenario.App}:{release.Digest["sha256:".Length..]}", ct);
        Assert.Empty(image.RepoDigests ?? []);
    }
}

/// <summary>A test class with a <see cref="DockerScenario"/> of its own on the Docker engine fixture.</summary>
public abstract class DockerScenarioTest(BaseImagesFixture bases, DockerEngineFixture engine) : IAsyncLifetime
{
    private protected DockerScenario Scenario { get; } = new(bases, engine);

    private protected DockerEngineFixture Engine { get; } = engine;

    public virtual async ValueTask InitializeAsync()
    {
        bases.Require();
        Engine.Require();
        await Scenario.InitializeAsync();
    }

    public ValueTask DisposeAsync() => Scenario.DisposeAsync();
}

/// <summary>One app on Docker hosts: a sample workspace, a state folder, a proxy port and instance ports of its own.</summary>
internal sealed class DockerScenario(BaseImagesFixture bases, DockerEngineFixture engine)
{
    private readonly int _proxyPort = TestNetwork.FreePort();
    private readonly int _firstPort = 21000 + (Random.Shared.Next(0, 400) * 10);

    public string App { get; } = "hello-docker-" + Guid.NewGuid().ToString("N")[..8];

    public string State { get; } = TestEnvironment.NewWorkDir("docker-state");

    public SampleWorkspace Workspace { get; private set; } = null!;

    /// <summary>The endpoints the app is deployed to; by default the one engine.</summary>
    public List<string> Hosts { get; } = [];

    /// <summary>The engines' own sockets, for checks and clean-up; by default the one engine.</summary>
    public List<string> Engines { get; } = [];

    /// <summary>ImmutableDockerTlsCertPath, when the hosts are reached over TLS.</summary>
    public string? TlsCertPath { get; set; }

    public Uri ProxyUrl => new($"http://127.0.0.1:{_proxyPort}/");

    public string HostList => string.Join(";", (Hosts.Count == 0 ? [engine.DockerHost] : Hosts).Select((h, i) => Entry(h, i)));

    private static string Cli => Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.Cli", "bin", "Release", "net8.0", "immutable.dll");

    /// <summary>Each host of the machine gets its own proxy port and instance ports, as separate machines would not need.</summary>
    public string Entry(string endpoint, int index) =>
        $"{endpoint}?listen=127.0.0.1&proxyPort={_proxyPort + index}&ports={_firstPort + (index * 2000)}-{_firstPort + (index * 2000) + 9}";

    public Uri ProxyOf(int index) => new($"http://127.0.0.1:{_proxyPort + index}/");

    public async Task InitializeAsync() => Workspace = await SampleWorkspace.CreateAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (var host in Engines.Count == 0 ? [engine.DockerHost] : Engines)
        {
            try
            {
                using var docker = DockerEndpoint.Parse(host).CreateClient();
                foreach (var c in await AllAsync(docker))
                {
                    await docker.Containers.RemoveContainerAsync(c.ID, new ContainerRemoveParameters { Force = true }, CancellationToken.None);
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or DockerApiException or ImmutableBuildException)
            {
                // an engine a test stopped; its containers went with it
            }
        }
    }

    public string[] PublishArgs(int replicas, params string[] extra) =>
    [
        replicas > 0 ? "-p:ImmutableTarget=docker" : "-p:ImmutableTarget=none",
        $"-p:ImmutableDockerHosts={HostList.Replace(";", "%3B", StringComparison.Ordinal)}",
        $"-p:ImmutableStateDir={State}",
        $"-p:ImmutableReplicas={Math.Max(replicas, 1)}",
        $"-p:ContainerBaseImage={bases.AspNet}",
        $"-p:ContainerRegistry={bases.Registry.Address}",
        $"-p:ContainerRepository=tests/{App}",
        $"-p:ImmutableDockerTlsCertPath={TlsCertPath}",
        .. extra,
    ];

    public Task<Published> PublishAsync(int replicas, params string[] extra) => PublishAsync(replicas, null, extra);

    public async Task<Published> PublishAsync(int replicas, IReadOnlyDictionary<string, string?>? environment, params string[] extra)
    {
        var publish = await Workspace.PublishWithResultsAsync(PublishArgs(replicas, extra), ["ImmutableReleaseId", "ImmutableImageDigest", "ImmutableReleaseManifest"], environment);
        Assert.True(publish.Process.ExitCode == 0, publish.Process.Output);
        return new Published(publish["ImmutableReleaseId"], publish["ImmutableImageDigest"], publish["ImmutableReleaseManifest"]) { Output = publish.Process.Output };
    }

    public async Task<Published> ChangeAndPublishAsync(string greeting, int replicas, params string[] extra)
    {
        await Workspace.SetGreetingAsync(greeting);
        return await PublishAsync(replicas, extra);
    }

    public string[] CliArgs(params string[] args) => [Cli, .. args, "--app", App, "--target", "docker", "--docker-hosts", HostList, "--state-dir", State, .. TlsCertPath is null ? Array.Empty<string>() : ["--docker-tls-cert-path", TlsCertPath]];

    public Task<ProcessResult> CliAsync(params string[] args) => ProcessRunner.RunAsync("dotnet", CliArgs(args), timeout: TimeSpan.FromMinutes(4));

    public Process StartCli(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in CliArgs(args))
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info)!;
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>The app's instance containers on a host (not its proxy).</summary>
    public async Task<List<ContainerListResponse>> InstancesAsync(string host)
    {
        using var docker = DockerEndpoint.Parse(host).CreateClient();
        return (await AllAsync(docker)).Where(c => c.Labels.TryGetValue("immutable.role", out var role) && role == "instance").ToList();
    }

    private async Task<IList<ContainerListResponse>> AllAsync(IDockerClient docker) =>
        await docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"immutable.app={App}"] = true } },
        }, CancellationToken.None);
}

/// <summary>A published release.</summary>
internal sealed record Published(string ReleaseId, string Digest, string Manifest)
{
    /// <summary>What the publish printed.</summary>
    public string Output { get; init; } = "";
}
