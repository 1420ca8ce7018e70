using Immutable.Build.Images;
using Immutable.Build.Registry;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>Pure rules: which registries speak plain HTTP, names, challenges, scopes and the tag guard's decision table.</summary>
public sealed class RegistryNamesTests
{
    [Theory]
    [InlineData("localhost:5000", "http://localhost:5000/")]
    [InlineData("LOCALHOST", "http://localhost/")]
    [InlineData("127.0.0.1:5000", "http://127.0.0.1:5000/")]
    [InlineData("127.8.9.10", "http://127.8.9.10/")]
    [InlineData("[::1]:5000", "http://[::1]:5000/")]
    [InlineData("ghcr.io", "https://ghcr.io/")]
    [InlineData("128.0.0.1:5000", "https://128.0.0.1:5000/")]
    [InlineData("localhost.example.com", "https://localhost.example.com/")]
    [InlineData("docker.io", "https://registry-1.docker.io/")]
    [InlineData("registry.internal:5000", "http://registry.internal:5000/")]
    [InlineData("other.internal", "http://other.internal/")]
    [InlineData("registry.internal", "https://registry.internal/")]
    public void Loopback_and_listed_insecure_registries_use_plain_http_and_everything_else_https(string registry, string expected)
    {
        var env = new Dictionary<string, string> { ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = " ;Registry.Internal:5000 ;  other.internal;" };
        using var client = new RegistryClient(registry, new RegistryClientOptions { GetEnvironmentVariable = n => env.GetValueOrDefault(n) });

        Assert.Equal(new Uri(expected), client.BaseAddress);
        Assert.Equal(expected.StartsWith("http:", StringComparison.Ordinal), client.IsPlainHttp);
    }

    [Theory]
    [InlineData("")]
    [InlineData("ghcr.io/team")]
    [InlineData("user@ghcr.io")]
    [InlineData("host:notaport")]
    public void A_registry_that_is_not_host_and_port_is_IMB2013(string registry)
    {
        var error = Assert.Throws<ImmutableBuildException>(() => new RegistryClient(registry, new RegistryClientOptions { GetEnvironmentVariable = _ => null }));
        Assert.Equal(RegistryErrors.InvalidName, error.Code);
    }

    [Theory]
    [InlineData("app", true)]
    [InlineData("team/app", true)]
    [InlineData("a.b_c__d--e/f-g", true)]
    [InlineData("Team/app", false)]
    [InlineData("team//app", false)]
    [InlineData("-app", false)]
    [InlineData("app_", false)]
    [InlineData("a___b", false)]
    public void Repository_names_follow_the_distribution_grammar(string repository, bool valid)
    {
        if (valid)
        {
            Assert.Equal(repository, RegistryNames.ValidateRepository(repository));
        }
        else
        {
            Assert.Equal(RegistryErrors.InvalidName, Assert.Throws<ImmutableBuildException>(() => RegistryNames.ValidateRepository(repository)).Code);
        }
    }

    [Fact]
    public void A_challenge_keeps_commas_inside_quoted_scopes_and_Bearer_wins_over_Basic()
    {
        var challenge = AuthChallenge.Select([
            "Basic realm=\"Registry Realm\", Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\",scope=\"repository:team/app:pull,push repository:base/x:pull\",error=\"insufficient_scope\"",
        ]);

        Assert.NotNull(challenge);
        Assert.True(challenge.IsBearer);
        Assert.Equal("https://auth.example.com/token", challenge.Realm);
        Assert.Equal("registry.example.com", challenge.Service);
        Assert.Equal("repository:team/app:pull,push repository:base/x:pull", challenge.Scope);
        Assert.Equal("insufficient_scope", challenge.Error);
        Assert.Equal(["repository:base/x:pull", "repository:team/app:pull,push"], ScopeSet.Parse(challenge.Scope).ToScopeStrings());
    }

    [Fact]
    public void Unquoted_parameters_and_escapes_are_read_leniently()
    {
        var all = AuthChallenge.Parse("Bearer realm=https://auth.example.com/token?x=1,service=svc, Basic realm=\"a \\\"quoted\\\" realm\"");

        Assert.Equal(2, all.Count);
        Assert.Equal("https://auth.example.com/token?x=1", all[0].Realm);
        Assert.Equal("svc", all[0].Service);
        Assert.Equal("a \"quoted\" realm", all[1].Realm);
        Assert.Null(AuthChallenge.Select(["Negotiate", "NTLM"]));
    }

    [Fact]
    public void A_token_for_push_covers_pull_but_not_another_repository()
    {
        var push = ScopeSet.Push("team/app");

        Assert.True(push.Covers(ScopeSet.Pull("team/app")));
        Assert.True(push.Covers(ScopeSet.Push("team/app")));
        Assert.False(ScopeSet.Pull("team/app").Covers(push));
        Assert.False(push.Covers(ScopeSet.Pull("team/other")));
        Assert.False(push.Covers(ScopeSet.Delete("team/app")));
        Assert.True(ScopeSet.Parse("repository:team/app:*").Covers(ScopeSet.Delete("team/app")));
        Assert.True(push.Covers(ScopeSet.Empty));
    }

    [Fact]
    public void The_tag_guard_pushes_absent_tags_adopts_equal_ones_and_refuses_others_unless_overwriting_is_explicit()
    {
        var image = Digest.Of([1]);
        var other = Digest.Of([2]);

        Assert.Equal(TagDecision.Push, TagGuard.Decide(image, null, allowOverwrite: false));
        Assert.Equal(TagDecision.Push, TagGuard.Decide(image, null, allowOverwrite: true));
        Assert.Equal(TagDecision.Adopt, TagGuard.Decide(image, image, allowOverwrite: false));
        Assert.Equal(TagDecision.Adopt, TagGuard.Decide(image, image, allowOverwrite: true));
        Assert.Equal(TagDecision.Refuse, TagGuard.Decide(image, other, allowOverwrite: false));
        Assert.Equal(TagDecision.Overwrite, TagGuard.Decide(image, other, allowOverwrite: true));
    }

    [Fact]
    public void A_credential_never_prints_its_secret()
    {
        var password = RegistryCredential.FromPassword("user", "hunter2-long-password");
        var token = RegistryCredential.FromIdentityToken("identity-token-value");
        var options = new RegistryClientOptions { Credential = password };

        Assert.DoesNotContain("hunter2-long-password", password.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-long-password", options.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("identity-token-value", token.ToString(), StringComparison.Ordinal);
        Assert.Equal("<token>", token.Username);
    }
}
