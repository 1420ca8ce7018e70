using System.Net;
using System.Text.Json;
using Immutable.Build.Aws.Bake;

namespace Immutable.Build.Aws.Tests;

/// <summary>
/// The release install script: its values cannot run as code, and a baked install really runs the release on a
/// Docker engine and starts it again from the saved tar once the engine has lost the image.
/// </summary>
/// <remarks>Class fixtures rather than assembly fixtures, so the moto tests of this assembly never start an engine.</remarks>
public sealed class ReleaseScriptTests(BaseImagesFixture bases, DockerEngineFixture engine) : IClassFixture<BaseImagesFixture>, IClassFixture<DockerEngineFixture>
{
    [Fact]
    public async Task Hostile_values_in_every_field_stay_data_in_the_rendered_script()
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = TestEnvironment.NewWorkDir("script-quoting");
        var marker = Path.Combine(dir, "injected");
        // Each value tries another way out of a quoted word; the marker file exists only if one of them ran.
        var hostile = $"a'b $(touch {marker}) `touch {marker}` \"$(touch {marker})\" '$(touch {marker})' \\ back\\\\slash\nline two\n'; touch {marker}; '";
        var input = new ReleaseScriptInput(hostile, hostile, 8080, hostile, hostile, hostile, hostile, hostile);

        var script = Path.Combine(dir, "install.sh");
        await File.WriteAllTextAsync(script, ReleaseScripts.InstallScript(input, "bake"), ct);
        var syntax = await ProcessRunner.RunAsync("bash", ["-n", script], dir, cancellationToken: ct);
        Assert.True(syntax.ExitCode == 0, syntax.Output);

        // Through a file, because the process runner reads output by lines and would not show a trailing newline.
        var printed = Path.Combine(dir, "printed");
        foreach (var name in new[] { "IMAGE", "DIGEST", "RELEASE_ID", "COMMIT", "APP", "ENVIRONMENT", "GROUP" })
        {
            var echoed = await ProcessRunner.RunAsync("bash", ["-c", ReleaseScripts.Prelude(input, "bake") + $"printf '%s' \"${name}\" > {ReleaseScripts.Quote(printed)}"], dir, cancellationToken: ct);
            Assert.True(echoed.ExitCode == 0, echoed.Output);
            Assert.Equal(hostile, await File.ReadAllTextAsync(printed, ct));
        }

        // The whole script refuses the line breaks before it writes anything (they would add lines to release.env
        // and the systemd unit); `true` as docker keeps it from reaching any engine.
        var root = Path.Combine(dir, "root");
        var run = await ProcessRunner.RunAsync(
            "bash",
            [script],
            dir,
            new Dictionary<string, string?> { ["IMMUTABLE_NO_SYSTEMD"] = "1", ["IMMUTABLE_STATE_ROOT"] = root, ["DOCKER"] = "true" },
            TimeSpan.FromMinutes(1),
            ct);
        Assert.True(run.ExitCode == 2, run.Output);
        Assert.False(Directory.Exists(root), "the script wrote state for values it refused");
        Assert.False(File.Exists(marker), "a value ran as a command");
    }

    [Fact]
    public async Task A_baked_install_runs_the_release_by_digest_and_starts_it_again_from_the_tar_without_the_registry()
    {
        bases.Require();
        engine.Require();
        var ct = TestContext.Current.CancellationToken;
        var workspace = await SampleWorkspace.CreateAsync();
        var commit = await workspace.GitAsync("rev-parse", "HEAD");
        var repository = "tests/script-release-" + Guid.NewGuid().ToString("N")[..8];
        var publish = await workspace.PublishWithResultsAsync(
            [$"-p:ContainerBaseImage={bases.AspNet}", $"-p:ContainerRegistry={bases.Registry.Address}", $"-p:ContainerRepository={repository}"],
            ["ImmutableImageReference", "ImmutableImageDigest"]);
        Assert.True(publish.Process.ExitCode == 0, publish.Process.Output);
        var image = publish["ImmutableImageReference"];
        var digest = publish["ImmutableImageDigest"];
        Assert.EndsWith("@" + digest, image, StringComparison.Ordinal);

        var dir = TestEnvironment.NewWorkDir("script-bake");
        var root = Path.Combine(dir, "root");
        var port = TestNetwork.FreePort();
        var releaseId = "r-" + Guid.NewGuid().ToString("N")[..8];
        var container = "immutable-app-" + Guid.NewGuid().ToString("N")[..8];
        var script = Path.Combine(dir, "install.sh");
        await File.WriteAllTextAsync(script, ReleaseScripts.InstallScript(new ReleaseScriptInput(image, digest, port, releaseId, commit, "hello", "test", "blue"), "bake"), ct);
        var env = new Dictionary<string, string?>
        {
            ["DOCKER_HOST"] = engine.DockerHost,
            ["IMMUTABLE_NO_SYSTEMD"] = "1",
            ["IMMUTABLE_STATE_ROOT"] = root,
            ["IMMUTABLE_CONTAINER_NAME"] = container,
        };
        try
        {
            var install = await ProcessRunner.RunAsync("bash", [script], dir, env, TimeSpan.FromMinutes(3), ct);
            Assert.True(install.ExitCode == 0, install.Output);
            Assert.True(File.Exists(Path.Combine(root, "var", "lib", "immutable", digest["sha256:".Length..] + ".tar")), install.Output);
            Assert.Equal(image, (await File.ReadAllTextAsync(Path.Combine(root, "etc", "immutable", "image"), ct)).Trim());
            await AssertServesAsync(port, releaseId, commit, digest, ct);

            // What an instance from the AMI meets when the engine has no copy: only the tar on the disk.
            (await DockerAsync(env, "rm", "-f", container)).EnsureSuccess("docker rm");
            (await DockerAsync(env, "rmi", "-f", image)).EnsureSuccess("docker rmi");
            Assert.NotEqual(0, (await DockerAsync(env, "image", "inspect", image)).ExitCode);

            var restart = await ProcessRunner.RunAsync(Path.Combine(root, "etc", "immutable", "start.sh"), [], dir, new Dictionary<string, string?>(env) { ["IMMUTABLE_DETACH"] = "1" }, TimeSpan.FromMinutes(2), ct);
            Assert.True(restart.ExitCode == 0, restart.Output);
            await AssertServesAsync(port, releaseId, commit, digest, ct);
            // A pull would have brought the repository@digest back; the tar's load does not.
            Assert.NotEqual(0, (await DockerAsync(env, "image", "inspect", image)).ExitCode);
        }
        finally
        {
            await DockerAsync(env, "rm", "-f", container);
            var id = Path.Combine(root, "etc", "immutable", "image-id");
            await DockerAsync(env, "rmi", "-f", File.Exists(id) ? (await File.ReadAllTextAsync(id, CancellationToken.None)).Trim() : image);
        }
    }

    private static Task<ProcessResult> DockerAsync(IReadOnlyDictionary<string, string?> env, params string[] arguments) =>
        ProcessRunner.RunAsync("docker", arguments, environment: env, timeout: TimeSpan.FromMinutes(1));

    private static async Task AssertServesAsync(int port, string releaseId, string commit, string digest, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var health = await PollAsync(http, new Uri($"http://127.0.0.1:{port}/healthz"), ct);
        Assert.Equal(HttpStatusCode.OK, health);
        using var version = JsonDocument.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/version"), ct));
        Assert.Equal(releaseId, version.RootElement.GetProperty("releaseId").GetString());
        Assert.Equal(commit, version.RootElement.GetProperty("commit").GetString());
        Assert.Equal(digest, version.RootElement.GetProperty("imageDigest").GetString());
    }

    private static async Task<HttpStatusCode?> PollAsync(HttpClient http, Uri uri, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await http.GetAsync(uri, ct);
                return response.StatusCode;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
            }

            await Task.Delay(250, ct);
        }

        return null;
    }
}
