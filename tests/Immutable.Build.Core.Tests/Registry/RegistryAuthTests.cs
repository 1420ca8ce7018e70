using System.Text;
using Immutable.Build.Images;
using Immutable.Build.Registry;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>Bearer-token and Basic authentication, request by request, against a strict scripted server.</summary>
public sealed class RegistryAuthTests
{
    private const string Password = "pa55-word-that-must-not-leak";
    private static readonly byte[] Manifest = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{},\"layers\":[]}");
    private static readonly string ManifestDigest = Digest.Of(Manifest).Value;

    [Fact]
    public async Task The_bearer_flow_fetches_a_token_per_scope_caches_it_and_refreshes_it_on_401_and_expiry()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        var time = new FakeTime();
        var challenge = $"Bearer realm=\"{server.Realm}\",service=\"registry.test\",scope=\"repository:team/app:pull\"";
        var basic = RegistryTestKit.Basic("alice", Password);
        server
            .Expect("HEAD", "/v2/team/app/manifests/v1", r => NoAuthorization(r, Reply.Status(401, ("WWW-Authenticate", challenge))))
            .Expect("GET", "/token?service=registry.test&scope=repository:team/app:pull", r => Authorized(r, basic, Reply.Json(200, "{\"token\":\"tok-1\",\"expires_in\":300}")))
            .Expect("HEAD", "/v2/team/app/manifests/v1", r => Authorized(r, "Bearer tok-1", ManifestReply()))
            // Cached: the same scope needs no new token.
            .Expect("GET", "/v2/team/app/manifests/v1", r => Authorized(r, "Bearer tok-1", ManifestReply()))
            // A push needs push,pull: a new token for the wider scope, fetched before the request.
            .Expect("GET", "/token?service=registry.test&scope=repository:team/app:pull,push", r => Authorized(r, basic, Reply.Json(200, "{\"access_token\":\"tok-2\",\"expires_in\":300}")))
            .Expect("PUT", "/v2/team/app/manifests/v2", r => Authorized(r, "Bearer tok-2", Reply.Status(201, ("Docker-Content-Digest", ManifestDigest))))
            // The push token also covers pull; when the registry stops accepting it, one refresh.
            .Expect("HEAD", "/v2/team/app/manifests/v1", r => Authorized(r, "Bearer tok-2", Reply.Status(401, ("WWW-Authenticate", challenge + ",error=\"invalid_token\""))))
            .Expect("GET", "/token?service=registry.test&scope=repository:team/app:pull", r => Authorized(r, basic, Reply.Json(200, "{\"token\":\"tok-3\"}")))
            .Expect("HEAD", "/v2/team/app/manifests/v1", r => Authorized(r, "Bearer tok-3", ManifestReply()))
            // Once every cached token has outlived its lifetime (tok-3 had the default 60 s), a new one is fetched before use.
            .Expect("GET", "/token?service=registry.test&scope=repository:team/app:pull", r => Authorized(r, basic, Reply.Json(200, "{\"token\":\"tok-4\"}")))
            .Expect("HEAD", "/v2/team/app/manifests/v1", r => Authorized(r, "Bearer tok-4", ManifestReply()));
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options(time) with { Credential = RegistryCredential.FromPassword("alice", Password) });

        Assert.Equal(ManifestDigest, (await client.HeadManifestAsync("team/app", "v1", ct))!.Digest.Value);
        Assert.Equal(Manifest, (await client.GetManifestAsync("team/app", "v1", ct)).Content);
        await client.PutManifestAsync("team/app", "v2", Manifest, MediaTypes.OciManifest, ct);
        Assert.NotNull(await client.HeadManifestAsync("team/app", "v1", ct));
        time.Advance(TimeSpan.FromSeconds(301));
        Assert.NotNull(await client.HeadManifestAsync("team/app", "v1", ct));

        server.AssertComplete();
    }

    [Fact]
    public async Task A_mount_asks_for_one_token_covering_both_repositories()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        var digest = Digest.Of([1, 2, 3]).Value;
        server
            .Expect("POST", $"/v2/team/app/blobs/uploads/?mount={digest}&from=base/dotnet", Reply.Status(401, ("WWW-Authenticate", $"Bearer realm=\"{server.Realm}\",service=\"svc\",scope=\"repository:team/app:pull,push\"")))
            .Expect("GET", "/token?service=svc&scope=repository:base/dotnet:pull&scope=repository:team/app:pull,push", Reply.Json(200, "{\"token\":\"anon\"}"))
            .Expect("POST", $"/v2/team/app/blobs/uploads/?mount={digest}&from=base/dotnet", r => Authorized(r, "Bearer anon", Reply.Status(201, ("Location", $"/v2/team/app/blobs/{digest}"))));
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options());

        Assert.True(await client.MountBlobAsync("team/app", Digest.Parse(digest), "base/dotnet", ct));

        // No credentials anywhere: the token was requested anonymously, as public pulls are.
        Assert.Null(server.Requests[1].Header("Authorization"));
        server.AssertComplete();
    }

    [Fact]
    public async Task An_identity_token_is_exchanged_with_the_OAuth2_refresh_token_grant()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        const string refresh = "identity-refresh-token-0123";
        server
            .Expect("HEAD", "/v2/team/app/manifests/v1", Reply.Status(401, ("WWW-Authenticate", $"Bearer realm=\"{server.Realm}\",service=\"svc\"")))
            .Expect("POST", "/token", r =>
            {
                Assert.Equal("application/x-www-form-urlencoded", r.Header("Content-Type"));
                Assert.Equal(
                    ["client_id=immutable-build", "grant_type=refresh_token", $"refresh_token={refresh}", "scope=repository:team/app:pull", "service=svc"],
                    r.BodyText.Split('&').Select(Uri.UnescapeDataString).Select(p => p.Replace('+', ' ')).Order(StringComparer.Ordinal));
                Assert.Null(r.Header("Authorization"));
                return Reply.Json(200, "{\"access_token\":\"oauth-access\",\"expires_in\":120}");
            })
            .Expect("HEAD", "/v2/team/app/manifests/v1", r => Authorized(r, "Bearer oauth-access", ManifestReply()));
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options() with { Credential = RegistryCredential.FromIdentityToken(refresh) });

        Assert.NotNull(await client.HeadManifestAsync("team/app", "v1", ct));
        server.AssertComplete();
    }

    [Fact]
    public async Task A_token_service_without_OAuth2_gets_the_identity_token_as_a_Basic_password()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        server
            .Expect("HEAD", "/v2/team/app/manifests/v1", Reply.Status(401, ("WWW-Authenticate", $"Bearer realm=\"{server.Realm}\",service=\"svc\"")))
            .Expect("POST", "/token", Reply.Status(404))
            .Expect("GET", "/token?service=svc&scope=repository:team/app:pull", r => Authorized(r, RegistryTestKit.Basic("<token>", "idt-9876"), Reply.Json(200, "{\"token\":\"t\"}")))
            .Expect("HEAD", "/v2/team/app/manifests/v1", r => Authorized(r, "Bearer t", ManifestReply()));
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options() with { Credential = RegistryCredential.FromIdentityToken("idt-9876") });

        Assert.NotNull(await client.HeadManifestAsync("team/app", "v1", ct));
        server.AssertComplete();
    }

    [Fact]
    public async Task A_Basic_challenge_is_answered_once_and_then_sent_up_front()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        var basic = RegistryTestKit.Basic("bob", Password);
        server
            .Expect("HEAD", "/v2/team/app/manifests/v1", Reply.Status(401, ("WWW-Authenticate", "Basic realm=\"Registry Realm\"")))
            .Expect("HEAD", "/v2/team/app/manifests/v1", r => Authorized(r, basic, ManifestReply()))
            .Expect("HEAD", "/v2/team/app/blobs/" + ManifestDigest, r => Authorized(r, basic, Reply.Status(404)));
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options() with { Credential = RegistryCredential.FromPassword("bob", Password) });

        Assert.NotNull(await client.HeadManifestAsync("team/app", "v1", ct));
        Assert.False(await client.BlobExistsAsync("team/app", Digest.Parse(ManifestDigest), ct));
        server.AssertComplete();
    }

    [Fact]
    public async Task Rejected_Basic_credentials_are_IMB2004_after_exactly_one_retry_and_nothing_leaks()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        server
            .Expect("GET", "/v2/team/app/manifests/v1", Reply.Status(401, ("WWW-Authenticate", "Basic realm=\"r\"")))
            .Expect("GET", "/v2/team/app/manifests/v1", r => Reply.Json(401, $"{{\"errors\":[{{\"code\":\"UNAUTHORIZED\",\"message\":\"bad {r.Header("Authorization")} {Password}\"}}]}}", ("WWW-Authenticate", "Basic realm=\"r\"")));
        var log = new List<string>();
        var credential = RegistryCredential.FromPassword("bob", Password);
        var options = RegistryTestKit.Options(log: log) with { Credential = credential };
        using var client = new RegistryClient(server.Address, options);

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.GetManifestAsync("team/app", "v1", ct));

        Assert.Equal(RegistryErrors.CredentialsRejected, error.Code);
        Assert.Contains("bob", error.Message, StringComparison.Ordinal);
        Assert.Contains($"docker login {server.Address}", error.Message, StringComparison.Ordinal);
        AssertNoSecret(Password, RegistryTestKit.Everything(error), string.Join('\n', log), credential.ToString(), options.ToString(), client.ToString());
        AssertNoSecret(RegistryTestKit.Basic("bob", Password)[6..], RegistryTestKit.Everything(error), string.Join('\n', log));
        server.AssertComplete();
    }

    [Fact]
    public async Task Secrets_echoed_by_a_token_service_or_a_registry_never_reach_messages_or_logs()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        const string token = "bearer-token-secret-777";
        var challenge = $"Bearer realm=\"{server.Realm}\",service=\"svc\"";
        server
            // The token service rejects the password and quotes it back.
            .Expect("HEAD", "/v2/team/app/manifests/v1", Reply.Status(401, ("WWW-Authenticate", challenge)))
            .Expect("GET", "/token?service=svc&scope=repository:team/app:pull", r => Reply.Json(401, $"{{\"details\":\"wrong password {Password} in {r.Header("Authorization")}\"}}"));
        var log = new List<string>();
        using (var client = new RegistryClient(server.Address, RegistryTestKit.Options(log: log) with { Credential = RegistryCredential.FromPassword("eve", Password) }))
        {
            var rejected = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.HeadManifestAsync("team/app", "v1", ct));
            Assert.Equal(RegistryErrors.CredentialsRejected, rejected.Code);
            AssertNoSecret(Password, RegistryTestKit.Everything(rejected), string.Join('\n', log));
        }

        server.AssertComplete();
        await using var second = new ScriptedRegistry();
        second
            // A registry that echoes the Authorization header and password in its error and its retries.
            .Expect("PUT", "/v2/team/app/manifests/v1", Reply.Status(401, ("WWW-Authenticate", $"Bearer realm=\"{second.Realm}\",service=\"svc\"")))
            .Expect("GET", "/token?service=svc&scope=repository:team/app:pull,push", Reply.Json(200, $"{{\"token\":\"{token}\"}}"))
            .Expect("PUT", "/v2/team/app/manifests/v1", r => Reply.Json(503, $"{{\"errors\":[{{\"code\":\"UNAVAILABLE\",\"message\":\"{r.Header("Authorization")}\"}}]}}"))
            .Expect("PUT", "/v2/team/app/manifests/v1", r => Reply.Json(400, $"{{\"errors\":[{{\"code\":\"MANIFEST_INVALID\",\"message\":\"got {r.Header("Authorization")} from eve:{Password}\"}}]}}"));
        using (var client = new RegistryClient(second.Address, RegistryTestKit.Options(log: log) with { Credential = RegistryCredential.FromPassword("eve", Password) }))
        {
            var refused = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.PutManifestAsync("team/app", "v1", Manifest, MediaTypes.OciManifest, ct));
            Assert.Equal(RegistryErrors.RequestRejected, refused.Code);
            Assert.Contains("MANIFEST_INVALID", refused.Message, StringComparison.Ordinal);
            Assert.Contains("***", refused.Message, StringComparison.Ordinal);
            AssertNoSecret(Password, RegistryTestKit.Everything(refused), string.Join('\n', log));
            AssertNoSecret(token, RegistryTestKit.Everything(refused), string.Join('\n', log));
        }

        second.AssertComplete();
    }

    [Fact]
    public async Task No_credentials_for_a_registry_that_requires_them_is_IMB2003()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        server
            .Expect("HEAD", "/v2/team/app/manifests/v1", Reply.Status(401, ("WWW-Authenticate", $"Bearer realm=\"{server.Realm}\",service=\"svc\"")))
            .Expect("GET", "/token?service=svc&scope=repository:team/app:pull", Reply.Status(401));
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options());

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.HeadManifestAsync("team/app", "v1", ct));

        Assert.Equal(RegistryErrors.CredentialsMissing, error.Code);
        Assert.Contains("DOTNET_CONTAINER_REGISTRY_UNAME", error.Message, StringComparison.Ordinal);
        server.AssertComplete();
    }

    [Fact]
    public async Task Forbidden_and_insufficient_scope_are_IMB2005()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        var challenge = $"Bearer realm=\"{server.Realm}\",service=\"svc\",scope=\"repository:team/app:pull,push\"";
        server
            .Expect("PUT", "/v2/team/app/manifests/v1", Reply.Status(401, ("WWW-Authenticate", challenge)))
            .Expect("GET", "/token?service=svc&scope=repository:team/app:pull,push", Reply.Json(200, "{\"token\":\"pull-only\"}"))
            .Expect("PUT", "/v2/team/app/manifests/v1", Reply.Status(401, ("WWW-Authenticate", challenge + ",error=\"insufficient_scope\"")))
            .Expect("GET", "/token?service=svc&scope=repository:team/app:delete", Reply.Json(200, "{\"token\":\"no-delete\"}"))
            .Expect("DELETE", $"/v2/team/app/manifests/{ManifestDigest}", r => Authorized(r, "Bearer no-delete", Reply.Status(403)));
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options() with { Credential = RegistryCredential.FromPassword("carol", Password) });

        var push = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.PutManifestAsync("team/app", "v1", Manifest, MediaTypes.OciManifest, ct));
        var delete = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.DeleteManifestAsync("team/app", Digest.Parse(ManifestDigest), ct));

        Assert.Equal(RegistryErrors.AccessDenied, push.Code);
        Assert.Equal(RegistryErrors.AccessDenied, delete.Code);
        Assert.Contains("carol", push.Message, StringComparison.Ordinal);
        server.AssertComplete();
    }

    [Fact]
    public async Task An_unknown_authentication_scheme_is_IMB2012()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        server.Expect("HEAD", "/v2/team/app/manifests/v1", Reply.Status(401, ("WWW-Authenticate", "Negotiate")));
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options() with { Credential = RegistryCredential.FromPassword("dave", Password) });

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.HeadManifestAsync("team/app", "v1", ct));

        Assert.Equal(RegistryErrors.Unsupported, error.Code);
        Assert.Contains("Negotiate", error.Message, StringComparison.Ordinal);
        server.AssertComplete();
    }

    private static Reply ManifestReply() => Reply.Bytes(
        200,
        Manifest,
        ("Content-Type", MediaTypes.OciManifest),
        ("Docker-Content-Digest", ManifestDigest));

    private static Reply NoAuthorization(RecordedRequest request, Reply reply)
    {
        Assert.Null(request.Header("Authorization"));
        Assert.Contains(MediaTypes.OciManifest, request.Header("Accept"), StringComparison.Ordinal);
        Assert.Contains(MediaTypes.DockerManifestList, request.Header("Accept"), StringComparison.Ordinal);
        return reply;
    }

    private static Reply Authorized(RecordedRequest request, string expected, Reply reply)
    {
        Assert.Equal(expected, request.Header("Authorization"));
        return reply;
    }

    private static void AssertNoSecret(string secret, params string[] texts)
    {
        foreach (var text in texts)
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        }
    }
}
