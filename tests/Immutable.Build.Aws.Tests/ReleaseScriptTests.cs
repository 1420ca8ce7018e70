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
        var run = await RunOffEc2Async(script, dir, root, ct);
        Assert.True(run.ExitCode == 2, run.Output);
        Assert.False(Directory.Exists(root), "the script wrote state for values it refused");
        Assert.False(File.Exists(marker), "a value ran as a command");
    }

    [Theory]
    [InlineData("tag")]
    [InlineData("digest")]
    [InlineData("port")]
    [InlineData("mode")]
    public async Task A_release_not_named_by_its_digest_or_with_bad_settings_is_refused_before_anything_is_written(string broken)
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = TestEnvironment.NewWorkDir("script-refuses");
        var digest = "sha256:" + new string('a', 64);
        var input = broken switch
        {
            "tag" => new ReleaseScriptInput("127.0.0.1:5000/hello:v1", digest, 8080, "r1", "c1", "hello", "test", ""),
            "digest" => new ReleaseScriptInput("127.0.0.1:5000/hello@sha256:../../etc", "sha256:../../etc", 8080, "r1", "c1", "hello", "test", ""),
            "port" => new ReleaseScriptInput("127.0.0.1:5000/hello@" + digest, digest, 0, "r1", "c1", "hello", "test", ""),
            _ => new ReleaseScriptInput("127.0.0.1:5000/hello@" + digest, digest, 8080, "r1", "c1", "hello", "test", ""),
        };
        var script = Path.Combine(dir, "install.sh");
        await File.WriteAllTextAsync(script, ReleaseScripts.InstallScript(input, broken == "mode" ? "upgrade" : "bake"), ct);
        var root = Path.Combine(dir, "root");
        var run = await RunOffEc2Async(script, dir, root, ct);
        Assert.True(run.ExitCode == 2, run.Output);
        Assert.Contains("immutable: ", run.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(root), "the script wrote state for a release it refused");
    }

    [Fact]
    public async Task Baked_user_data_hands_a_hostile_group_over_as_data_and_refuses_a_line_break()
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = TestEnvironment.NewWorkDir("script-baked");
        var digest = "sha256:" + new string('b', 64);
        var group = "g'$(id)`id`\\";
        var userData = ReleaseScripts.BakedUserData(new ReleaseScriptInput("r/hello@" + digest, digest, 8080, "r1", "c1", "hello", "test", group));
        Assert.StartsWith("#!/bin/bash\n", userData, StringComparison.Ordinal);
        Assert.Contains("systemctl restart immutable-app.service", userData, StringComparison.Ordinal);

        // The same script with its absolute paths moved under the test folder and systemctl left out.
        var root = Path.Combine(dir, "root");
        var local = userData.Replace("/etc/immutable", root, StringComparison.Ordinal).Replace("systemctl restart immutable-app.service", "true", StringComparison.Ordinal);
        var script = Path.Combine(dir, "user-data.sh");
        await File.WriteAllTextAsync(script, local, ct);
        var run = await ProcessRunner.RunAsync("bash", [script], dir, cancellationToken: ct);
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Equal($"IMMUTABLE_GROUP={group}\n", await File.ReadAllTextAsync(Path.Combine(root, "instance.env"), ct));

        Assert.DoesNotContain("instance.env", ReleaseScripts.BakedUserData(new ReleaseScriptInput("r/hello@" + digest, digest, 8080, "r1", "c1", "hello", "test", "")), StringComparison.Ordinal);
        Assert.Throws<ImmutableBuildException>(() => ReleaseScripts.BakedUserData(new ReleaseScriptInput("r/hello@" + digest, digest, 8080, "r1", "c1", "hello", "test", "blue\nIMMUTABLE_X=1")));
    }

    [Fact]
    public void User_data_over_EC2s_16_KB_is_refused_with_a_clear_error()
    {
        var digest = "sha256:" + new string('c', 64);
        var quick = ReleaseScripts.UserData(new ReleaseScriptInput("r/hello@" + digest, digest, 8080, "r1", "c1", "hello", "test", "blue"));
        Assert.StartsWith("#!/bin/bash\n", quick, StringComparison.Ordinal);
        Assert.Contains("MODE='boot'", quick, StringComparison.Ordinal);
        Assert.Contains("GROUP='blue'", quick, StringComparison.Ordinal);
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(quick) < ReleaseScripts.MaxUserDataBytes / 2, "the quick-mode user data leaves little room for the release's values");

        var huge = new string('x', ReleaseScripts.MaxUserDataBytes);
        var error = Assert.Throws<ImmutableBuildException>(() => ReleaseScripts.UserData(new ReleaseScriptInput("r/hello@" + digest, digest, 8080, huge, "c1", "hello", "test", "blue")));
        Assert.Contains("16384", error.Message, StringComparison.Ordinal);
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
            ["IMMUTABLE_BIND_ADDRESS"] = "127.0.0.1",
        };
        try
        {
            var install = await ProcessRunner.RunAsync("bash", [script], dir, env, TimeSpan.FromMinutes(3), ct);
            Assert.True(install.ExitCode == 0, install.Output);
            Assert.True(File.Exists(Path.Combine(root, "var", "lib", "immutable", digest["sha256:".Length..] + ".tar")), install.Output);
            Assert.Equal(image, (await File.ReadAllTextAsync(Path.Combine(root, "etc", "immutable", "image"), ct)).Trim());
            Assert.Contains(image, await DockerOutputAsync(env, "image", "inspect", "--format", "{{json .RepoDigests}}", image), StringComparison.Ordinal);

            // Every mention of the repository in the unit is the digest reference; the unit loads before it runs.
            var unit = await File.ReadAllTextAsync(Path.Combine(root, "etc", "systemd", "system", "immutable-app.service"), ct);
            var mentions = unit.Split('\n').Where(l => l.Contains(repository, StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(mentions);
            Assert.All(mentions, l => Assert.EndsWith(" " + image, l, StringComparison.Ordinal));
            Assert.Contains("\nExecStartPre=/etc/immutable/start.sh load\n", unit, StringComparison.Ordinal);
            Assert.Contains("\nExecStart=/etc/immutable/start.sh run\n", unit, StringComparison.Ordinal);
            Assert.Contains("\nWantedBy=multi-user.target\n", unit, StringComparison.Ordinal);

            await AssertServesAsync(port, releaseId, commit, digest, ct);
            var containerEnv = await DockerOutputAsync(env, "inspect", "--format", "{{json .Config.Env}}", container);
            Assert.Contains("\"IMMUTABLE_GROUP=blue\"", containerEnv, StringComparison.Ordinal);
            Assert.Contains($"\"IMMUTABLE_ENVIRONMENT=test\"", containerEnv, StringComparison.Ordinal);

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

    private static async Task<string> DockerOutputAsync(IReadOnlyDictionary<string, string?> env, params string[] arguments)
    {
        var result = await DockerAsync(env, arguments);
        Assert.True(result.ExitCode == 0, result.Output);
        return result.StandardOutput;
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

    // Off EC2, with `true` as docker, so a script that got past its checks could reach no engine.
    private static Task<ProcessResult> RunOffEc2Async(string script, string dir, string root, CancellationToken ct) =>
        ProcessRunner.RunAsync(
            "bash",
            [script],
            dir,
            new Dictionary<string, string?> { ["IMMUTABLE_NO_SYSTEMD"] = "1", ["IMMUTABLE_STATE_ROOT"] = root, ["DOCKER"] = "true" },
            TimeSpan.FromMinutes(1),
            ct);
}
