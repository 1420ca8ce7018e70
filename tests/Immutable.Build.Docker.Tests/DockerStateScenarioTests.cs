using System.Collections.Concurrent;
using Docker.DotNet.Models;
using Immutable.Build.Deployments;
using Immutable.Build.Docker.State;
using Immutable.Build.Releases;
using Immutable.Build.State;
using Immutable.Build.Targets;

namespace Immutable.Build.Docker.Tests;

/// <summary>
/// The shared-state scenarios with ImmutableStateUrl=docker:// on the real engine: each runner opens its own store
/// through the provider and deploys real releases of the sample with its own Docker target client on the same engine.
/// </summary>
public sealed class DockerStateScenarioTests(BaseImagesFixture bases, DockerEngineFixture engine) : IAsyncLifetime
{
    private static readonly SemaphoreSlim PublishGate = new(1, 1);
    private static IReadOnlyList<ReleaseRef>? s_published;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly string _app = "dst" + Guid.NewGuid().ToString("N")[..4];

    [Fact]
    public async Task Two_runners_at_once_the_second_fails_with_IMB6004_naming_the_first()
    {
        await (await RealTargetScenariosAsync()).TwoRunnersAtOnceAsync();
    }

    [Fact]
    public async Task Twenty_clients_appending_at_once_lose_no_record_and_one_writer_keeps_its_order()
    {
        await StoreOnlyScenarios().ConcurrentAppendsAsync(20);
    }

    [Fact]
    public async Task A_runner_killed_after_any_durable_write_is_taken_over_and_converged_by_another()
    {
        var writes = await (await RealTargetScenariosAsync()).KilledAfterAnyDurableWriteAsync();
        Assert.True(writes > 8);
    }

    [Fact]
    public async Task A_third_runner_rolls_back_and_sees_the_whole_history()
    {
        await (await RealTargetScenariosAsync()).RollbackFromThirdRunnerAsync();
    }

    [Fact]
    public async Task A_lock_left_by_a_killed_runner_is_shown_and_cleared_by_a_forced_release()
    {
        await (await RealTargetScenariosAsync()).ForceReleaseAsync();
    }

    [Fact]
    public async Task A_damaged_ledger_line_stops_the_deploy_until_state_repair_replaces_it_losing_nothing()
    {
        await (await RealTargetScenariosAsync()).RepairAsync();
    }

    /// <inheritdoc />
    public ValueTask InitializeAsync()
    {
        engine.Require();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        using var client = DockerEndpoint.Parse(engine.DockerHost).CreateClient();
        foreach (var c in await client.Containers.ListContainersAsync(new ContainersListParameters { All = true }))
        {
            var app = c.Labels.TryGetValue(DockerLabels.App, out var a) ? a : null;
            var key = c.Labels.TryGetValue(DockerStateObjects.KeyLabel, out var k) ? k : null;
            if (app?.StartsWith(_app + "-", StringComparison.Ordinal) == true || key?.StartsWith(_app + "-", StringComparison.Ordinal) == true)
            {
                await client.Containers.RemoveContainerAsync(c.ID, new ContainerRemoveParameters { Force = true });
            }
        }
    }

    /// <summary>Runners on the real Docker target; every scope gets a proxy port of its own, which all runners use.</summary>
    private async Task<SharedStateScenarios> RealTargetScenariosAsync()
    {
        var releases = await PublishedAsync();
        var ports = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        DockerTarget TargetOf(DeploymentScope scope) => new(new DockerTargetOptions
        {
            Hosts = [DockerHostEntry.Parse($"{engine.DockerHost}?listen=127.0.0.1&proxyPort={ports.GetOrAdd(scope.Key, _ => TestNetwork.FreePort())}", DockerTargetProvider.DefaultProxyPort)],
            ProxyAssembly = Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.Cli", "bin", "Release", "net8.0", "localhost", "Immutable.Build.LocalHost.dll"),
            StopGrace = TimeSpan.FromSeconds(2),
            StartTimeout = TimeSpan.FromMinutes(1),
            Log = _lines.Enqueue,
        });
        return new SharedStateScenarios(OpenStore, () => new ProxyPortPerScope(TargetOf), n => releases[n - 1], _lines, _app);
    }

    /// <summary>For the appends, which only use stores: no releases to publish.</summary>
    private SharedStateScenarios StoreOnlyScenarios()
    {
        var target = new InMemoryTarget();
        return new SharedStateScenarios(OpenStore, () => target, Fake, _lines, _app);
    }

    /// <summary>The store as ImmutableStateUrl=docker:// opens it, with the Docker settings a deploy gives it.</summary>
    private IStateStore OpenStore(StateContext context) =>
        new DockerStateStoreProvider().Open(new Uri("docker://"), context with
        {
            Settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { [DockerSettings.Hosts] = engine.DockerHost },
            GetEnvironmentVariable = _ => null,
        });

    private static ReleaseRef Fake(int n)
    {
        var hex = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(n))).ToLowerInvariant();
        return new ReleaseRef($"v{n}-{hex[..7]}", $"registry.invalid/app@sha256:{hex}", "sha256:" + hex, $"registry.invalid/app@sha256:{hex}", hex[..40]);
    }

    /// <summary>Three releases of the sample, published once for the run (the images are in the test registry; the target pulls them by digest).</summary>
    private async Task<IReadOnlyList<ReleaseRef>> PublishedAsync()
    {
        bases.Require();
        await PublishGate.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            if (s_published is null)
            {
                var scenario = new DockerScenario(bases, engine);
                await scenario.InitializeAsync();
                var releases = new List<ReleaseRef>();
                for (var n = 1; n <= 3; n++)
                {
                    var published = await scenario.ChangeAndPublishAsync($"Hello shared state v{n}", replicas: 0);
                    releases.Add(Deployer.ReleaseFrom(ReleaseManifestFile.Read(published.Manifest), published.Manifest));
                }

                s_published = releases;
            }

            return s_published;
        }
        finally
        {
            PublishGate.Release();
        }
    }

    /// <summary>
    /// One runner's Docker target: the target runs one proxy per app on its host's proxy port, so the scenarios'
    /// many scopes on one engine need a port each (real apps each have their ImmutableDockerProxyPort).
    /// </summary>
    private sealed class ProxyPortPerScope(Func<DeploymentScope, DockerTarget> targetOf) : IDeploymentTarget
    {
        private readonly ConcurrentDictionary<string, DockerTarget> _targets = new(StringComparer.Ordinal);

        public string Name => "docker";

        public Task<TargetState> ObserveAsync(DeploymentScope scope, CancellationToken cancellationToken) => Of(scope).ObserveAsync(scope, cancellationToken);

        public Task<IReadOnlyList<InstanceInfo>> LaunchAsync(LaunchRequest request, CancellationToken cancellationToken) => Of(request.Scope).LaunchAsync(request, cancellationToken);

        public Task RouteAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weightsByGroup, CancellationToken cancellationToken) => Of(scope).RouteAsync(scope, weightsByGroup, cancellationToken);

        public Task DecommissionAsync(DeploymentScope scope, string group, TimeSpan drain, CancellationToken cancellationToken) => Of(scope).DecommissionAsync(scope, group, drain, cancellationToken);

        public Task PrepareAsync(DeploymentScope scope, CancellationToken cancellationToken) => ((IDeploymentTarget)Of(scope)).PrepareAsync(scope, cancellationToken);

        public Task<IReadOnlyList<string>> DescribeAsync(DeploymentScope scope, CancellationToken cancellationToken) => ((IDeploymentTarget)Of(scope)).DescribeAsync(scope, cancellationToken);

        public Task PruneAsync(DeploymentScope scope, IReadOnlyCollection<string> keepImageDigests, CancellationToken cancellationToken) => Of(scope).PruneAsync(scope, keepImageDigests, cancellationToken);

        private DockerTarget Of(DeploymentScope scope) => _targets.GetOrAdd(scope.Key, _ => targetOf(scope));
    }
}
