using System.Text;
using Immutable.Build.Registry;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>Credential resolution from the SDK's variables, Docker's config.json and credential helpers (real helper processes).</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // credential helpers here are bash scripts
public sealed class RegistryCredentialsTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewWorkDir("registry-credentials");
    private readonly Dictionary<string, string?> _env = new(StringComparer.Ordinal);
    private readonly List<string> _log = [];

    public RegistryCredentialsTests()
    {
        _env["DOCKER_CONFIG"] = Path.Combine(_dir, "docker");
        _env["HOME"] = Path.Combine(_dir, "home");
        _env["PATH"] = Path.Combine(_dir, "bin") + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
        Directory.CreateDirectory(_env["DOCKER_CONFIG"]!);
        Directory.CreateDirectory(Path.Combine(_dir, "bin"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private RegistryCredentials Resolver => new(name => _env.GetValueOrDefault(name), _log.Add);

    [Fact]
    public async Task Nothing_configured_means_anonymous()
    {
        Assert.Null(await Resolver.ResolveAsync("ghcr.io", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task The_SDK_variables_come_first()
    {
        WriteConfig("""{"auths":{"ghcr.io":{"auth":"dXNlcjpmcm9tLWNvbmZpZw=="}}}""");
        _env["DOTNET_CONTAINER_REGISTRY_UNAME"] = "ci-user";
        _env["DOTNET_CONTAINER_REGISTRY_PWORD"] = "ci-password";

        var credential = await Resolver.ResolveAsync("ghcr.io", TestContext.Current.CancellationToken);

        Assert.Equal("ci-user", credential!.Username);
        Assert.Equal("ci-password", credential.Password);
        Assert.Contains("DOTNET_CONTAINER_REGISTRY_UNAME", credential.Source, StringComparison.Ordinal);
        Assert.DoesNotContain("ci-password", credential.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_token_username_in_the_SDK_variables_means_an_identity_token()
    {
        _env["SDK_CONTAINER_REGISTRY_UNAME"] = "<token>";
        _env["SDK_CONTAINER_REGISTRY_PWORD"] = "refresh-me";

        var credential = await Resolver.ResolveAsync("myregistry.azurecr.io", TestContext.Current.CancellationToken);

        Assert.Equal("refresh-me", credential!.IdentityToken);
        Assert.Null(credential.Password);
    }

    [Theory]
    [InlineData("ghcr.io", "ghcr.io")]
    [InlineData("https://ghcr.io", "ghcr.io")]
    [InlineData("https://ghcr.io/v2/", "ghcr.io")]
    [InlineData("https://index.docker.io/v1/", "registry-1.docker.io")]
    [InlineData("localhost:5000", "localhost:5000")]
    public async Task Auths_entries_match_the_way_docker_matches_them(string key, string registry)
    {
        WriteConfig("{\"auths\":{\"other.io\":{\"auth\":\"" + B64("no:no") + "\"},\"" + key + "\":{\"auth\":\"" + B64("octo:s3cr:et") + "\"}}}");

        var credential = await Resolver.ResolveAsync(registry, TestContext.Current.CancellationToken);

        Assert.Equal("octo", credential!.Username);
        Assert.Equal("s3cr:et", credential.Password);
        Assert.Contains("auths", credential.Source, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Auths_entries_may_spell_out_username_password_or_carry_an_identity_token()
    {
        WriteConfig("""{"auths":{"a.io":{"username":"u","password":"p4ss"},"b.io":{"auth":"dTo=","identitytoken":"idt"},"c.io":{}}}""");
        var ct = TestContext.Current.CancellationToken;

        var a = await Resolver.ResolveAsync("a.io", ct);
        var b = await Resolver.ResolveAsync("b.io", ct);
        var c = await Resolver.ResolveAsync("c.io", ct);

        Assert.Equal(("u", "p4ss"), (a!.Username, a.Password));
        Assert.Equal(("u", "idt"), (b!.Username, b.IdentityToken));
        Assert.Null(c);
    }

    [Fact]
    public async Task A_per_registry_credential_helper_is_run_with_the_registry_on_stdin()
    {
        WriteHelper("testhelper", """
            printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret"}' "$input"
            """);
        WriteConfig("""{"auths":{"registry.example.com:5000":{"auth":"eDp5"}},"credHelpers":{"registry.example.com:5000":"testhelper"},"credsStore":"missing"}""");

        var credential = await Resolver.ResolveAsync("registry.example.com:5000", TestContext.Current.CancellationToken);

        Assert.Equal("helper-user", credential!.Username);
        Assert.Equal("helper-secret", credential.Password);
        Assert.Equal("docker-credential-testhelper", credential.Source);
        Assert.Equal("get\nregistry.example.com:5000", File.ReadAllText(Path.Combine(_dir, "bin", "testhelper.request")));
    }

    [Fact]
    public async Task The_credential_store_answers_for_registries_without_inline_credentials()
    {
        WriteHelper("testhelper", """
            case "$input" in
              https://index.docker.io/v1/) printf '{"Username":"<token>","Secret":"hub-identity-token"}' ;;
              ghcr.io) printf '{"Username":"octo","Secret":"ghp_token"}' ;;
              *) echo "credentials not found in native keychain"; exit 1 ;;
            esac
            """);
        WriteConfig("""{"auths":{"ghcr.io":{}},"credsStore":"testhelper"}""");
        var ct = TestContext.Current.CancellationToken;

        var hub = await Resolver.ResolveAsync("registry-1.docker.io", ct);
        var ghcr = await Resolver.ResolveAsync("ghcr.io", ct);
        var none = await Resolver.ResolveAsync("quay.io", ct);

        Assert.Equal("hub-identity-token", hub!.IdentityToken);
        Assert.Equal("<token>", hub.Username);
        Assert.Equal("ghp_token", ghcr!.Password);
        Assert.Null(none);
    }

    [Fact]
    public async Task A_failing_helper_is_IMB2015_and_quotes_only_its_stderr()
    {
        WriteHelper("testhelper", """
            echo '{"Username":"x","Secret":"leaked-secret-from-stdout"}'
            echo "keychain is locked" >&2
            exit 3
            """);
        WriteConfig("""{"credHelpers":{"ghcr.io":"testhelper"}}""");

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => Resolver.ResolveAsync("ghcr.io", TestContext.Current.CancellationToken));

        Assert.Equal(RegistryErrors.CredentialHelperFailed, error.Code);
        Assert.Contains("exit code 3: keychain is locked", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("leaked-secret-from-stdout", RegistryTestKit.Everything(error), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_helper_named_for_a_registry_but_not_installed_is_IMB2015_while_a_missing_store_is_only_a_warning()
    {
        var ct = TestContext.Current.CancellationToken;
        WriteConfig("""{"credHelpers":{"ecr.example.com":"nothere"},"credsStore":"desktop-not-installed"}""");

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => Resolver.ResolveAsync("ecr.example.com", ct));
        var other = await Resolver.ResolveAsync("ghcr.io", ct);

        Assert.Equal(RegistryErrors.CredentialHelperFailed, error.Code);
        Assert.Contains("docker-credential-nothere", error.Message, StringComparison.Ordinal);
        Assert.Null(other);
        Assert.Contains(_log, l => l.StartsWith("warning: credsStore 'desktop-not-installed'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_broken_config_is_IMB2014_without_quoting_its_content()
    {
        var ct = TestContext.Current.CancellationToken;
        WriteConfig("""{"auths":{"ghcr.io":{"password":"secret-in-broken-file" """);
        var broken = await Assert.ThrowsAsync<ImmutableBuildException>(() => Resolver.ResolveAsync("ghcr.io", ct));
        WriteConfig("""{"auths":{"ghcr.io":{"auth":"not base64 at all!"}}}""");
        var badAuth = await Assert.ThrowsAsync<ImmutableBuildException>(() => Resolver.ResolveAsync("ghcr.io", ct));

        Assert.Equal(RegistryErrors.DockerConfigInvalid, broken.Code);
        Assert.Equal(RegistryErrors.DockerConfigInvalid, badAuth.Code);
        Assert.DoesNotContain("secret-in-broken-file", RegistryTestKit.Everything(broken), StringComparison.Ordinal);
        Assert.Contains("docker login ghcr.io", badAuth.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_DOCKER_CONFIG_the_config_is_read_from_home()
    {
        _env.Remove("DOCKER_CONFIG");
        Directory.CreateDirectory(Path.Combine(_env["HOME"]!, ".docker"));
        File.WriteAllText(Path.Combine(_env["HOME"]!, ".docker", "config.json"), "{\"auths\":{\"ghcr.io\":{\"auth\":\"" + B64("home:pw12") + "\"}}}");

        var credential = await Resolver.ResolveAsync("ghcr.io", TestContext.Current.CancellationToken);

        Assert.Equal("home", credential!.Username);
    }

    private void WriteConfig(string json) => File.WriteAllText(Path.Combine(_env["DOCKER_CONFIG"]!, "config.json"), json);

    /// <summary>A real helper program on the PATH given to the resolver: bash, reading the protocol's stdin.</summary>
    private void WriteHelper(string name, string body)
    {
        var bin = Path.Combine(_dir, "bin");
        var path = Path.Combine(bin, "docker-credential-" + name);
        File.WriteAllText(path, $"""
            #!/usr/bin/env bash
            set -eu
            input=$(cat)
            printf '%s\n%s' "$1" "$input" > "{bin}/{name}.request"
            {body}

            """);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));
}
