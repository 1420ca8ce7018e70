using System.IO.Compression;
using System.Text;

namespace Immutable.Build.Tasks.Tests;

/// <summary>
/// A publish that authenticates to a real password-protected registry: the password never shows in
/// the build output, the binary log or release.json, whether the push succeeds or is refused.
/// </summary>
public sealed class SecretsTests(BasicAuthRegistryFixture registry) : IClassFixture<BasicAuthRegistryFixture>
{
    [Fact]
    public async Task Credentials_from_docker_config_never_reach_the_output_the_binlog_or_release_json()
    {
        registry.Require();
        var workspace = await SampleWorkspace.CreateAsync();
        var binlog = Path.Combine(workspace.Root, "publish.binlog");
        var dockerConfig = TestEnvironment.NewWorkDir("docker-config");
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{registry.Username}:{registry.Password}"));
        await File.WriteAllTextAsync(Path.Combine(dockerConfig, "config.json"), "{\"auths\":{\"" + registry.Address + "\":{\"auth\":\"" + auth + "\"}}}");
        var env = new Dictionary<string, string?> { ["DOCKER_CONFIG"] = dockerConfig, ["DOTNET_CONTAINER_REGISTRY_UNAME"] = null, ["DOTNET_CONTAINER_REGISTRY_PWORD"] = null };

        // The most verbose console log there is.
        var ok = await workspace.PublishWithResultsAsync([.. Push(binlog), "-v:diag"], ["ImmutableImageDigest", "ImmutableReleaseManifest"], env);
        Assert.True(ok.Process.ExitCode == 0, ok.Process.Output);
        AssertNoSecret(ok.Process.Output, "the build output");
        AssertNoSecret(await File.ReadAllTextAsync(ok["ImmutableReleaseManifest"]), "release.json");
        AssertNoSecret(ReadBinlog(binlog), "the binary log");
    }

    [Fact]
    public async Task Credentials_from_the_sdk_variables_are_never_logged_by_the_release_even_when_refused()
    {
        registry.Require();
        var workspace = await SampleWorkspace.CreateAsync();
        var binlog = Path.Combine(workspace.Root, "publish.binlog");
        var env = new Dictionary<string, string?>
        {
            ["DOTNET_CONTAINER_REGISTRY_UNAME"] = registry.Username,
            ["DOTNET_CONTAINER_REGISTRY_PWORD"] = registry.Password,
            ["DOCKER_CONFIG"] = TestEnvironment.NewWorkDir("no-docker-config"),
        };

        var ok = await workspace.PublishWithResultsAsync(Push(binlog), ["ImmutableImageDigest", "ImmutableReleaseManifest"], env);
        Assert.True(ok.Process.ExitCode == 0, ok.Process.Output);
        AssertNoSecret(ok.Process.Output, "the build output");
        AssertNoSecret(await File.ReadAllTextAsync(ok["ImmutableReleaseManifest"]), "release.json");
        // MSBuild itself records the process environment in a binary log; nothing else may carry the password.
        AssertOnlyInEnvironmentRecord(ReadBinlog(binlog), registry.Password, "DOTNET_CONTAINER_REGISTRY_PWORD");

        // A wrong password: the error says what to do and shows no secret, neither the wrong one nor the right one.
        var wrong = "wrong-" + Guid.NewGuid().ToString("N");
        var denied = await workspace.PublishWithResultsAsync(Push(binlog), ["ImmutableImageDigest"], new Dictionary<string, string?>(env) { ["DOTNET_CONTAINER_REGISTRY_PWORD"] = wrong });
        Assert.NotEqual(0, denied.Process.ExitCode);
        Assert.Contains("IMB2004", denied.Process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, denied.Process.Output, StringComparison.Ordinal);
        AssertNoSecret(denied.Process.Output, "the failed build's output");
        AssertOnlyInEnvironmentRecord(ReadBinlog(binlog), wrong, "DOTNET_CONTAINER_REGISTRY_PWORD");
    }

    private string[] Push(string binlog) => [$"-p:ContainerRegistry={registry.Address}", "-p:ContainerRepository=secret/app", $"-bl:{binlog}"];

    private static void AssertOnlyInEnvironmentRecord(string log, string secret, string variable)
    {
        var count = 0;
        for (var i = log.IndexOf(secret, StringComparison.Ordinal); i >= 0; i = log.IndexOf(secret, i + 1, StringComparison.Ordinal))
        {
            count++;
            Assert.True(i > variable.Length + 2 && log.AsSpan(i - variable.Length - 2, variable.Length).SequenceEqual(variable), "the secret appears in the binary log outside MSBuild's environment record");
        }

        Assert.True(count <= 1, $"the secret appears {count} times in the binary log");
    }

    private void AssertNoSecret(string text, string where)
    {
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{registry.Username}:{registry.Password}"));
        Assert.False(text.Contains(registry.Password, StringComparison.Ordinal), $"the registry password appears in {where}");
        Assert.False(text.Contains(basic, StringComparison.Ordinal), $"the basic auth header appears in {where}");
    }

    // A binary log is a gzip stream of records; its strings are UTF-8, so a decompressed read finds any secret in it.
    private static string ReadBinlog(string path)
    {
        using var file = File.OpenRead(path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
