using Immutable.Build.Targets.Local;
using System.Globalization;
using System.Text;
using Immutable.Build.Deployments;
using Immutable.Build.Docker;
using Immutable.Build.Rollout;
using Immutable.Build.Testing;

/// <summary>
/// Blue-green rollout time on a real Docker engine for 1 and 3 replicas: two releases of the sample (ASP.NET Core
/// base, pushed to the test registry) deployed in turn, so every rollout starts containers, gates them, switches the
/// host's proxy and stops and removes the old containers. The first deploy (pull, proxy image) is not counted.
/// </summary>
public static class DockerBench
{
    public static async Task<string> RunAsync(SampleWorkspace workspace, BaseImagesFixture bases, int rounds)
    {
        var engine = new DockerEngineFixture();
        await engine.InitializeAsync();
        try
        {
            engine.Require();
            var repository = "bench/docker-" + Guid.NewGuid().ToString("N")[..6];
            var releases = await RolloutBench.PublishTwoReleasesAsync(workspace, "docker", [$"-p:ContainerBaseImage={bases.AspNet}", $"-p:ContainerRegistry={bases.Registry.Address}", $"-p:ContainerRepository={repository}"]);
            var host = RolloutBench.HostAssembly;
            var table = new StringBuilder();
            table.AppendLine("| replicas | blue-green rollout on Docker, median s | per container s |");
            table.AppendLine("| ---: | ---: | ---: |");
            foreach (var replicas in new[] { 1, 3 })
            {
                var settings = new DeploymentSettings
                {
                    Target = "docker",
                    App = "bench-docker-" + replicas.ToString(CultureInfo.InvariantCulture),
                    StateDirectory = TestEnvironment.NewWorkDir("bench-docker-state"),
                    LocalHostAssembly = host,
                    TargetSettings = new Dictionary<string, string>
                    {
                        [DockerSettings.Hosts] = $"{engine.DockerHost}?listen=127.0.0.1&proxyPort={TestNetwork.FreePort()}&ports=24000-24099",
                        [DockerSettings.StopGrace] = "5s",
                    },
                    Rollout = new RolloutSettings { Strategy = "bluegreen", Replicas = replicas.ToString(CultureInfo.InvariantCulture) },
                    TargetProviders = [new DockerTargetProvider()],
                };
                var median = await RolloutBench.MedianRolloutSecondsAsync(settings, releases, rounds);
                table.AppendLine(CultureInfo.InvariantCulture, $"| {replicas} | {median:F2} | {median / replicas:F2} |");
                Console.WriteLine($"docker blue-green, {replicas} replicas: median {median:F2} s");
                await RemoveAppAsync(engine.DockerHost, settings.App!);
            }

            return table.ToString();
        }
        finally
        {
            await engine.DisposeAsync();
        }
    }

    private static async Task RemoveAppAsync(string host, string app)
    {
        using var docker = DockerEndpoint.Parse(host).CreateClient();
        var containers = await docker.Containers.ListContainersAsync(new global::Docker.DotNet.Models.ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"immutable.app={app}"] = true } },
        });
        foreach (var c in containers)
        {
            await docker.Containers.RemoveContainerAsync(c.ID, new global::Docker.DotNet.Models.ContainerRemoveParameters { Force = true });
        }
    }
}
