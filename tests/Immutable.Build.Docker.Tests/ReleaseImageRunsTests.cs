using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Docker.DotNet.Models;
using Immutable.Build.Docker;

namespace Immutable.Build.Docker.Tests;

/// <summary>The image Immutable.Build's own engine builds, on the Debian + .NET base, runs on a real Docker engine.</summary>
public sealed class ReleaseImageRunsTests(BaseImagesFixture bases, DockerEngineFixture engine)
{
    [Fact]
    public async Task The_release_image_runs_and_reports_its_commit_and_its_docker_archive_loads()
    {
        bases.Require();
        engine.Require();
        var ct = TestContext.Current.CancellationToken;
        var workspace = await SampleWorkspace.CreateAsync();
        var commit = await workspace.GitAsync("rev-parse", "HEAD");
        var repository = "tests/hello-release-" + Guid.NewGuid().ToString("N")[..8];
        var archive = Path.Combine(workspace.Root, "hello.tar");
        var publish = await workspace.PublishWithResultsAsync(
            [$"-p:ContainerBaseImage={bases.AspNet}", $"-p:ContainerRegistry={bases.Registry.Address}", $"-p:ContainerRepository={repository}", $"-p:ContainerArchiveOutputPath={archive}", "-p:ContainerImageFormat=Docker"],
            ["ImmutableImageReference", "ImmutableImageDigest", "ImmutableReleaseId"]);
        Assert.True(publish.Process.ExitCode == 0, publish.Process.Output);

        using var docker = DockerEndpoint.Parse(engine.DockerHost).CreateClient();
        var reference = publish["ImmutableImageReference"];
        await docker.Images.CreateImageAsync(new ImagesCreateParameters { FromImage = reference[..reference.IndexOf('@', StringComparison.Ordinal)], Tag = publish["ImmutableImageDigest"] }, null, new Progress<JSONMessage>(), ct);

        var port = TestNetwork.FreePort();
        var created = await docker.Containers.CreateContainerAsync(
            new CreateContainerParameters
            {
                Image = reference,
                Name = "hello-release-" + Guid.NewGuid().ToString("N")[..8],
                Env = ["ASPNETCORE_HTTP_PORTS=", $"ASPNETCORE_URLS=http://127.0.0.1:{port}"],
                HostConfig = new HostConfig { NetworkMode = "host" },
            },
            ct);
        try
        {
            await docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            Assert.Equal(HttpStatusCode.OK, await WaitForStatusAsync(http, new Uri($"http://127.0.0.1:{port}/healthz"), ct));
            using var version = JsonDocument.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/version"), ct));
            Assert.StartsWith(commit, version.RootElement.GetProperty("commit").GetString() ?? "", StringComparison.Ordinal);
        }
        finally
        {
            await docker.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true }, CancellationToken.None);
        }

        // The docker-archive written next to it loads into the engine with the release's tag.
        await using (var tar = File.OpenRead(archive))
        {
            await docker.Images.LoadImageAsync(new ImageLoadParameters { Quiet = true }, tar, new Progress<JSONMessage>(), ct);
        }

        var loaded = await docker.Images.InspectImageAsync($"{bases.Registry.Address}/{repository}:{publish["ImmutableReleaseId"]}", ct);
        Assert.Contains($"{bases.Registry.Address}/{repository}:{publish["ImmutableReleaseId"]}", loaded.RepoTags);
    }

    private static async Task<HttpStatusCode?> WaitForStatusAsync(HttpClient http, Uri uri, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 120; attempt++)
        {
            try
            {
                using var response = await http.GetAsync(uri, ct);
                return response.StatusCode;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(250, ct);
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
            }
        }

        return null;
    }

}
