using System.Net;
using System.Net.Sockets;
using Docker.DotNet;
using Docker.DotNet.Models;
using Immutable.Build.Docker;

[assembly: AssemblyFixture(typeof(BaseImagesFixture))]
[assembly: AssemblyFixture(typeof(DockerEngineFixture))]
[assembly: AssemblyFixture(typeof(SecondDockerEngineFixture))]

namespace Immutable.Build.Docker.Tests;

/// <summary>
/// The whole test infrastructure at once: the registry, the Debian + .NET base pushed into it, the
/// sample built onto that base by the SDK's own container support, run on the real Docker engine.
/// </summary>
public sealed class InfrastructureEndToEndTests(BaseImagesFixture bases, DockerEngineFixture engine)
{
    [Fact]
    public async Task The_sample_built_on_the_offline_base_runs_on_the_docker_engine_and_is_healthy()
    {
        bases.Require();
        engine.Require();
        var ct = TestContext.Current.CancellationToken;
        var workspace = await SampleWorkspace.CreateAsync();
        var tag = "e2e-" + Guid.NewGuid().ToString("N")[..8];
        var publish = await workspace.PublishAsync(
            [
                "-t:PublishContainer",
                $"-p:ContainerBaseImage={bases.AspNet}",
                $"-p:ContainerRegistry={bases.Registry.Address}",
                "-p:ContainerRepository=tests/hello-e2e",
                $"-p:ContainerImageTags={tag}",
            ],
            new Dictionary<string, string?> { ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = bases.Registry.Address });
        publish.EnsureSuccess("dotnet publish -t:PublishContainer");

        using var docker = DockerEndpoint.Parse(engine.DockerHost).CreateClient();
        await docker.Images.CreateImageAsync(new ImagesCreateParameters { FromImage = $"{bases.Registry.Address}/tests/hello-e2e", Tag = tag }, null, new Progress<JSONMessage>(), ct);

        var port = TestNetwork.FreePort();
        var created = await docker.Containers.CreateContainerAsync(
            new CreateContainerParameters
            {
                Image = $"{bases.Registry.Address}/tests/hello-e2e:{tag}",
                Name = "hello-e2e-" + tag,
                Env = ["ASPNETCORE_HTTP_PORTS=", $"ASPNETCORE_URLS=http://127.0.0.1:{port}"],
                HostConfig = new HostConfig { NetworkMode = "host" },
            },
            ct);
        try
        {
            await docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            HttpStatusCode? status = null;
            for (var attempt = 0; attempt < 120 && status != HttpStatusCode.OK; attempt++)
            {
                try
                {
                    using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz"), ct);
                    status = response.StatusCode;
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(250, ct);
                }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested)
                {
                }
            }

            Assert.Equal(HttpStatusCode.OK, status);
        }
        finally
        {
            await docker.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true }, CancellationToken.None);
        }
    }

}
