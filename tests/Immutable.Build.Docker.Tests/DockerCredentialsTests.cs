using System.Text;
using Docker.DotNet.Models;

namespace Immutable.Build.Docker.Tests;

/// <summary>
/// A release in a password-protected registry: the target forwards the credentials to the engine, which pulls the
/// image by digest; the password shows nowhere in the output, even at the most verbose level.
/// </summary>
public sealed class DockerCredentialsTests(BaseImagesFixture bases, DockerEngineFixture engine, SecondDockerEngineFixture otherEngine, BasicAuthRegistryFixture registry)
    : DockerScenarioTest(bases, engine), IClassFixture<BasicAuthRegistryFixture>
{
    public override async ValueTask InitializeAsync()
    {
        otherEngine.Require();
        registry.Require();
        Scenario.Engines.AddRange([Engine.DockerHost, otherEngine.DockerHost]);
        await base.InitializeAsync();
    }

    [Fact]
    public async Task The_engine_pulls_from_a_protected_registry_with_forwarded_credentials_that_are_never_logged()
    {
        var ct = TestContext.Current.CancellationToken;
        var dockerConfig = TestEnvironment.NewWorkDir("docker-config");
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{registry.Username}:{registry.Password}"));
        await File.WriteAllTextAsync(Path.Combine(dockerConfig, "config.json"), "{\"auths\":{\"" + registry.Address + "\":{\"auth\":\"" + auth + "\"}}}", ct);
        var env = new Dictionary<string, string?> { ["DOCKER_CONFIG"] = dockerConfig, ["DOTNET_CONTAINER_REGISTRY_UNAME"] = null, ["DOTNET_CONTAINER_REGISTRY_PWORD"] = null };

        var release = await Scenario.PublishAsync(1, env, $"-p:ContainerRegistry={registry.Address}", "-v:diag");
        Assert.DoesNotContain(registry.Password, release.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(auth, release.Output, StringComparison.Ordinal);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(release.ReleaseId, RequestLoop.ReleaseOf(await http.GetStringAsync(Scenario.ProxyUrl, ct)));
        using var docker = DockerEndpoint.Parse(Engine.DockerHost).CreateClient();
        var image = await docker.Images.InspectImageAsync($"immutable-release/{Scenario.App}:{release.Digest["sha256:".Length..]}", ct);
        Assert.Contains(image.RepoDigests, d => d.StartsWith(registry.Address + "/", StringComparison.Ordinal) && d.EndsWith(release.Digest, StringComparison.Ordinal));

        // Without credentials a host that does not have the image is refused, and the error says so, naming the host,
        // with no secret. (A host that has the image by its digest needs no pull.)
        var otherHost = Scenario.Entry(otherEngine.DockerHost, 5);
        var args = Scenario.CliArgs("deploy", release.Manifest, "--replicas", "1");
        args[Array.IndexOf(args, "--docker-hosts") + 1] = otherHost;
        args[Array.IndexOf(args, "--state-dir") + 1] = TestEnvironment.NewWorkDir("docker-state-denied");
        var denied = await ProcessRunner.RunAsync("dotnet", args, environment: new Dictionary<string, string?> { ["DOCKER_CONFIG"] = TestEnvironment.NewWorkDir("no-docker-config") }, timeout: TimeSpan.FromMinutes(3));
        Assert.True(denied.ExitCode != 0, denied.Output);
        Assert.Contains("IMB5004", denied.Output, StringComparison.Ordinal);
        Assert.Contains(otherEngine.DockerHost, denied.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(registry.Password, denied.Output, StringComparison.Ordinal);
    }
}
