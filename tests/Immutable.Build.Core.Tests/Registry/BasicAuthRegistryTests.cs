using System.Text;
using Immutable.Build.Registry;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>Authentication against a real registry that requires it (htpasswd), credentials from a Docker config and a helper.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // credential helpers here are bash scripts
public sealed class BasicAuthRegistryTests(BasicAuthRegistryFixture registry) : IClassFixture<BasicAuthRegistryFixture>, IDisposable
{
    private readonly string _dir = TestEnvironment.NewWorkDir("auth-registry-client");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Credentials_from_a_docker_config_auths_entry_push_and_pull()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var env = DockerConfig("{\"auths\":{\"" + registry.Address + "\":{\"auth\":\"" + B64($"{registry.Username}:{registry.Password}") + "\"}}}");
        var log = new List<string>();
        var wire = new WireLog();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options(wire: wire, log: log) with { Credentials = new RegistryCredentials(env, log.Add) });
        var image = TestImage.Create();

        var result = await ImagePusher.PushAsync(client, "team/app", image.Content, ["1"], false, null, ct);

        Assert.True(result.ManifestWritten);
        Assert.Equal(image.Content.Manifest, (await client.GetManifestAsync("team/app", "1", ct)).Content);
        Assert.Contains(log, l => l.Contains("auths[", StringComparison.Ordinal));
        // The first request learns the Basic challenge; every later one sends credentials up front.
        Assert.Equal(401, wire.Statuses[0]);
        Assert.DoesNotContain(401, wire.Statuses.Skip(1));
        AssertNoSecret(registry.Password, string.Join('\n', log));
    }

    [Fact]
    public async Task Credentials_from_a_credential_store_helper_push_and_pull()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var bin = Path.Combine(_dir, "bin");
        Directory.CreateDirectory(bin);
        var helper = Path.Combine(bin, "docker-credential-testhelper");
        await File.WriteAllTextAsync(helper, $$"""
            #!/usr/bin/env bash
            server=$(cat)
            if [ "$1 $server" = "get {{registry.Address}}" ]; then
              printf '{"ServerURL":"%s","Username":"{{registry.Username}}","Secret":"{{registry.Password}}"}' "$server"
            else
              echo "credentials not found in native keychain"; exit 1
            fi

            """, ct);
        File.SetUnixFileMode(helper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var env = DockerConfig("""{"credsStore":"testhelper"}""", bin);
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options() with { Credentials = new RegistryCredentials(env) });

        var result = await ImagePusher.PushAsync(client, "team/helper", TestImage.Create().Content, ["1"], false, null, ct);

        Assert.Equal(result.Digest, (await client.HeadManifestAsync("team/helper", "1", ct))!.Digest);
    }

    [Fact]
    public async Task A_wrong_password_is_IMB2004_and_the_password_appears_nowhere()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        const string wrong = "wrong-password-do-not-print-42";
        var log = new List<string>();
        var env = new Dictionary<string, string>
        {
            ["DOTNET_CONTAINER_REGISTRY_UNAME"] = registry.Username,
            ["DOTNET_CONTAINER_REGISTRY_PWORD"] = wrong,
        };
        var options = RegistryTestKit.Options(log: log) with { Credentials = new RegistryCredentials(n => env.GetValueOrDefault(n), log.Add) };
        using var client = new RegistryClient(registry.Address, options);

        var pull = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.GetManifestAsync("team/app", "1", ct));
        var push = await Assert.ThrowsAsync<ImmutableBuildException>(() => ImagePusher.PushAsync(client, "team/app", TestImage.Create().Content, ["2"], false, log.Add, ct));

        Assert.Equal(RegistryErrors.CredentialsRejected, pull.Code);
        Assert.Equal(RegistryErrors.CredentialsRejected, push.Code);
        Assert.Contains(registry.Username, pull.Message, StringComparison.Ordinal);
        Assert.Contains("DOTNET_CONTAINER_REGISTRY_UNAME/PWORD", pull.Message, StringComparison.Ordinal);
        var basic = B64($"{registry.Username}:{wrong}");
        foreach (var secret in new[] { wrong, basic })
        {
            AssertNoSecret(secret, RegistryTestKit.Everything(pull), RegistryTestKit.Everything(push), string.Join('\n', log), options.ToString(), client.ToString());
        }
    }

    [Fact]
    public async Task No_credentials_is_IMB2003()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.HeadManifestAsync("team/app", "1", ct));

        Assert.Equal(RegistryErrors.CredentialsMissing, error.Code);
        Assert.Contains($"docker login {registry.Address}", error.Message, StringComparison.Ordinal);
    }

    private Func<string, string?> DockerConfig(string json, string? bin = null)
    {
        var dir = Path.Combine(_dir, "docker-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), json);
        var env = new Dictionary<string, string>
        {
            ["DOCKER_CONFIG"] = dir,
            ["PATH"] = (bin is null ? "" : bin + Path.PathSeparator) + Environment.GetEnvironmentVariable("PATH"),
        };
        return n => env.GetValueOrDefault(n);
    }

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static void AssertNoSecret(string secret, params string[] texts)
    {
        foreach (var text in texts)
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        }
    }
}
