using System.Net;
using System.Net.Sockets;

[assembly: AssemblyFixture(typeof(RegistryFixture))]

namespace Immutable.Build.Cli.Tests;

/// <summary>Releases pushed to a real registry are deployed locally from it, and pruned from it when asked.</summary>
public sealed class RegistryRetentionTests(RegistryFixture registry) : IAsyncLifetime
{
    private readonly string _state = TestEnvironment.NewWorkDir("retention-state");
    private readonly int _port = TestNetwork.FreePort();

    private static string Cli => Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.Cli", "bin", "Release", "net8.0", "immutable.dll");

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await ProcessRunner.RunAsync("dotnet", [Cli, "local", "stop", "--state-dir", _state], timeout: TimeSpan.FromMinutes(1));

    [Fact]
    public async Task Releases_deploy_from_the_registry_and_pruning_with_registry_deletes_the_old_image_by_digest()
    {
        registry.Require();
        var workspace = await SampleWorkspace.CreateAsync();
        var repository = "tests/retention-" + Guid.NewGuid().ToString("N")[..8];
        string[] args = [$"-p:ContainerRegistry={registry.Address}", $"-p:ContainerRepository={repository}", "-p:ContainerBaseImage=scratch", "-p:ImmutableTarget=local", $"-p:ImmutableStateDir={_state}", $"-p:ImmutableLocalPort={_port}"];
        var v1 = await workspace.PublishWithResultsAsync(args, ["ImmutableImageDigest", "ImmutableReleaseId"]);
        Assert.True(v1.Process.ExitCode == 0, v1.Process.Output);
        await File.AppendAllTextAsync(Path.Combine(workspace.ProjectDir, "Greeting.cs"), "// v2\n");
        await workspace.CommitAllAsync("v2");
        var v2 = await workspace.PublishWithResultsAsync(args, ["ImmutableImageDigest", "ImmutableReleaseId"]);
        Assert.True(v2.Process.ExitCode == 0, v2.Process.Output);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Contains(v2["ImmutableReleaseId"], await http.GetStringAsync(new Uri($"http://127.0.0.1:{_port}/"), TestContext.Current.CancellationToken), StringComparison.Ordinal);

        // The app is named after the repository's last segment.
        var prune = await ProcessRunner.RunAsync("dotnet", [Cli, "prune", "--app", repository[(repository.LastIndexOf('/') + 1)..], "--state-dir", _state, "--retain", "0", "--registry"], timeout: TimeSpan.FromMinutes(2));
        prune.EnsureSuccess("immutable prune --registry");
        Assert.Null(await ManifestStatusAsync(repository, v1["ImmutableImageDigest"]));
        Assert.Equal(HttpStatusCode.OK, await ManifestStatusAsync(repository, v2["ImmutableImageDigest"]));
    }

    private async Task<HttpStatusCode?> ManifestStatusAsync(string repository, string digest)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Head, new Uri($"http://{registry.Address}/v2/{repository}/manifests/{digest}"));
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        return response.StatusCode == HttpStatusCode.NotFound ? null : response.StatusCode;
    }

}
