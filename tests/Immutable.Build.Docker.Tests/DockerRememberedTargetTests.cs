using System.Text.Json;

namespace Immutable.Build.Docker.Tests;

/// <summary>After a Docker-target rollout, later commands reach the same hosts without any --docker-* option.</summary>
public sealed class DockerRememberedTargetTests(BaseImagesFixture bases, DockerEngineFixture engine) : DockerScenarioTest(bases, engine)
{
    private static string Cli => Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.Cli", "bin", "Release", "net8.0", "immutable.dll");

    [Fact]
    public async Task Status_with_the_app_alone_and_rollback_with_nothing_reach_the_hosts_of_the_last_rollout()
    {
        var ct = TestContext.Current.CancellationToken;
        var v1 = await Scenario.PublishAsync(replicas: 1);
        var v2 = await Scenario.ChangeAndPublishAsync("Hello docker remembered", replicas: 1);
        var elsewhere = TestEnvironment.NewWorkDir("docker-elsewhere");
        var environment = new Dictionary<string, string?> { ["IMMUTABLE_STATE_DIR"] = Scenario.State, ["DOCKER_HOST"] = "unix:///nowhere/docker.sock" };

        var status = await ProcessRunner.RunAsync("dotnet", [Cli, "status", "--app", Scenario.App, "--output", "json"], elsewhere, environment, TimeSpan.FromMinutes(4), ct);
        Assert.True(status.ExitCode == 0, status.Output);
        using (var json = JsonDocument.Parse(status.StandardOutput))
        {
            Assert.Equal("docker", json.RootElement.GetProperty("target").GetString());
            Assert.Equal(v2.ReleaseId, json.RootElement.GetProperty("current").GetProperty("releaseId").GetString());
        }

        var rollback = await ProcessRunner.RunAsync("dotnet", [Cli, "rollback"], elsewhere, environment, TimeSpan.FromMinutes(4), ct);
        Assert.True(rollback.ExitCode == 0, rollback.Output);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(v1.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(Scenario.ProxyUrl, ct)));
        Assert.All(await Scenario.InstancesAsync(Engine.DockerHost), c => Assert.Equal(v1.ReleaseId, c.Labels["immutable.release"]));
    }
}
