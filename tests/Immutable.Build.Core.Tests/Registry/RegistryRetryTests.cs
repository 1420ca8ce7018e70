using System.Text;
using Immutable.Build.Images;
using Immutable.Build.Registry;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>Retries, backoff and the errors that must not be retried, against a strict scripted server.</summary>
public sealed class RegistryRetryTests
{
    private static readonly byte[] Manifest = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}");

    [Fact]
    public async Task Server_errors_are_retried_with_growing_jittered_backoff()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        server
            .Expect("GET", "/v2/team/app/manifests/v1", Reply.Status(503))
            .Expect("GET", "/v2/team/app/manifests/v1", Reply.Status(502))
            .Expect("GET", "/v2/team/app/manifests/v1", Reply.Status(500))
            .Expect("GET", "/v2/team/app/manifests/v1", ManifestReply());
        var time = new FakeTime();
        var log = new List<string>();
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options(time, log: log) with { RetryBaseDelay = TimeSpan.FromSeconds(1) });

        var manifest = await client.GetManifestAsync("team/app", "v1", ct);

        Assert.Equal(Manifest, manifest.Content);
        Assert.Equal(3, time.Delays.Count);
        for (var i = 0; i < 3; i++)
        {
            // Equal jitter: between half and all of 1 s, 2 s, 4 s.
            var full = TimeSpan.FromSeconds(Math.Pow(2, i));
            Assert.InRange(time.Delays[i], full / 2, full);
        }

        Assert.Contains(log, l => l.Contains("answered 503", StringComparison.Ordinal) && l.Contains("attempt 2 of 5", StringComparison.Ordinal));
        server.AssertComplete();
    }

    [Fact]
    public async Task Too_many_requests_waits_as_long_as_Retry_After_says_within_a_cap()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        server
            .Expect("HEAD", "/v2/team/app/manifests/v1", Reply.Status(429, ("Retry-After", "7")))
            .Expect("HEAD", "/v2/team/app/manifests/v1", Reply.Status(429, ("Retry-After", "86400")))
            .Expect("HEAD", "/v2/team/app/manifests/v1", Reply.Status(503, ("Retry-After", "2")))
            .Expect("HEAD", "/v2/team/app/manifests/v1", ManifestReply());
        var time = new FakeTime();
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options(time));

        Assert.NotNull(await client.HeadManifestAsync("team/app", "v1", ct));

        Assert.Equal([TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(2)], time.Delays);
        server.AssertComplete();
    }

    [Fact]
    public async Task A_reset_connection_is_retried()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        server
            .Expect("GET", "/v2/team/app/manifests/v1", Reply.ConnectionReset())
            .Expect("GET", "/v2/team/app/manifests/v1", ManifestReply());
        var time = new FakeTime();
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options(time));

        Assert.Equal(Manifest, (await client.GetManifestAsync("team/app", "v1", ct)).Content);
        Assert.Single(time.Delays);
        server.AssertComplete();
    }

    [Fact]
    public async Task A_request_that_times_out_is_retried()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        // The first answer never comes (within the test); the request timeout passes on the fake clock only.
        server
            .Expect("HEAD", "/v2/team/app/manifests/v1", ManifestReply() with { Delay = TimeSpan.FromHours(1) })
            .Expect("HEAD", "/v2/team/app/manifests/v1", ManifestReply());
        var time = new FakeTime();
        var log = new List<string>();
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options(time, log: log) with { RequestTimeout = TimeSpan.FromMinutes(10) });

        var head = client.HeadManifestAsync("team/app", "v1", ct);
        // Real sockets: wait (on the real clock) until the request is at the server and its deadline is armed.
        Assert.True(await Wait.UntilAsync(_ => new ValueTask<bool>(server.Requests.Count > 0 && time.PendingDeadlines > 0), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(10), TimeProvider.System, ct));

        Assert.False(head.IsCompleted);
        time.Advance(TimeSpan.FromMinutes(10));
        Assert.NotNull(await head);

        Assert.Single(time.Delays);
        Assert.Contains(log, l => l.Contains("no answer within", StringComparison.Ordinal));
        server.AssertComplete();
    }

    [Fact]
    public async Task Retries_are_bounded_and_end_in_IMB2002_with_the_registrys_reason()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        for (var i = 0; i < 3; i++)
        {
            server.Expect("HEAD", "/v2/team/app/blobs/" + Digest.Of([1]).Value, Reply.Json(503, "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"maintenance\"}]}"));
        }

        var time = new FakeTime();
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options(time) with { MaxAttempts = 3 });

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.BlobExistsAsync("team/app", Digest.Of([1]), ct));

        Assert.Equal(RegistryErrors.Unavailable, error.Code);
        Assert.Contains("3 times", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, time.Delays.Count);
        server.AssertComplete();
    }

    [Theory]
    [InlineData(System.Net.Sockets.SocketError.HostNotFound)]
    [InlineData(System.Net.Sockets.SocketError.TryAgain)]
    [InlineData(System.Net.Sockets.SocketError.NetworkUnreachable)]
    [InlineData(System.Net.Sockets.SocketError.HostUnreachable)]
    public async Task A_name_that_does_not_resolve_or_a_missing_route_fails_at_once_with_IMB2001(System.Net.Sockets.SocketError error)
    {
        var ct = TestContext.Current.CancellationToken;
        var time = new FakeTime();
        var connects = 0;
        // The connect is answered in-process, as the resolver or the kernel would: no packet leaves the machine.
        using var client = new RegistryClient("registry.nonexistent.invalid", RegistryTestKit.Options(time) with { WrapHandler = FailConnect(error, () => Interlocked.Increment(ref connects)) });

        var failure = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.GetManifestAsync("dotnet/aspnet", "10.0", ct));

        Assert.Equal(RegistryErrors.Unreachable, failure.Code);
        Assert.Contains("not retried", failure.Message, StringComparison.Ordinal);
        Assert.Equal(1, connects);
        Assert.Empty(time.Delays);
    }

    [Fact]
    public async Task A_refused_connection_is_still_retried_before_IMB2001()
    {
        var ct = TestContext.Current.CancellationToken;
        var time = new FakeTime();
        var connects = 0;
        using var client = new RegistryClient("registry.nonexistent.invalid", RegistryTestKit.Options(time) with { MaxAttempts = 3, WrapHandler = FailConnect(System.Net.Sockets.SocketError.ConnectionRefused, () => Interlocked.Increment(ref connects)) });

        var failure = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.GetManifestAsync("dotnet/aspnet", "10.0", ct));

        Assert.Equal(RegistryErrors.Unreachable, failure.Code);
        Assert.Contains("after 3 attempts", failure.Message, StringComparison.Ordinal);
        Assert.Equal(3, connects);
        Assert.Equal(2, time.Delays.Count);
    }

    private static Func<HttpMessageHandler, HttpMessageHandler> FailConnect(System.Net.Sockets.SocketError error, Action counted) => handler =>
    {
        ((SocketsHttpHandler)handler).ConnectCallback = (_, _) =>
        {
            counted();
            throw new System.Net.Sockets.SocketException((int)error);
        };
        return handler;
    };

    [Theory]
    [InlineData(400, RegistryErrors.RequestRejected)]
    [InlineData(404, RegistryErrors.ManifestNotFound)]
    [InlineData(405, RegistryErrors.RequestRejected)]
    [InlineData(501, RegistryErrors.RequestRejected)]
    public async Task Client_errors_are_not_retried(int status, string code)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        server.Expect("GET", "/v2/team/app/manifests/v1", Reply.Json(status, "{\"errors\":[{\"code\":\"SOMETHING\",\"message\":\"no\"}]}"));
        var time = new FakeTime();
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options(time));

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.GetManifestAsync("team/app", "v1", ct));

        Assert.Equal(code, error.Code);
        Assert.Empty(time.Delays);
        server.AssertComplete();
    }

    [Fact]
    public async Task A_failed_upload_restarts_in_a_new_session_after_abandoning_the_old_one()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        var content = Encoding.UTF8.GetBytes("layer bytes");
        var digest = Digest.Of(content).Value;
        server
            .Expect("POST", "/v2/team/app/blobs/uploads/", Reply.Status(202, ("Location", "/v2/team/app/blobs/uploads/s1?_state=x")))
            .Expect("PUT", $"/v2/team/app/blobs/uploads/s1?_state=x&digest={digest}", Reply.Status(503))
            .Expect("DELETE", "/v2/team/app/blobs/uploads/s1?_state=x", Reply.Status(204))
            .Expect("HEAD", $"/v2/team/app/blobs/{digest}", Reply.Status(404))
            .Expect("POST", "/v2/team/app/blobs/uploads/", Reply.Status(202, ("Location", $"http://{server.Address}/v2/team/app/blobs/uploads/s2?_state=y")))
            .Expect("PUT", $"/v2/team/app/blobs/uploads/s2?_state=y&digest={digest}", r =>
            {
                Assert.Equal(content, r.Body);
                Assert.Equal("application/octet-stream", r.Header("Content-Type"));
                return Reply.Status(201, ("Docker-Content-Digest", digest));
            });
        var time = new FakeTime();
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options(time));

        var result = await client.UploadBlobAsync("team/app", Blob(content), ct);

        Assert.Equal(new BlobUploadResult(Digest.Parse(digest), false, content.Length, 0), result);
        Assert.Single(time.Delays);
        server.AssertComplete();
    }

    [Fact]
    public async Task Chunks_carry_consecutive_content_ranges_and_follow_each_new_location()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        var content = Enumerable.Range(0, 2500).Select(i => (byte)i).ToArray();
        var digest = Digest.Of(content).Value;
        server
            .Expect("POST", "/v2/team/app/blobs/uploads/", Reply.Status(202, ("Location", "/v2/team/app/blobs/uploads/u?_state=0")))
            .Expect("PATCH", "/v2/team/app/blobs/uploads/u?_state=0", r => Chunk(r, "0-999", content[..1000], "/v2/team/app/blobs/uploads/u?_state=1"))
            .Expect("PATCH", "/v2/team/app/blobs/uploads/u?_state=1", r => Chunk(r, "1000-1999", content[1000..2000], "/v2/team/app/blobs/uploads/u?_state=2"))
            .Expect("PATCH", "/v2/team/app/blobs/uploads/u?_state=2", r => Chunk(r, "2000-2499", content[2000..], "/v2/team/app/blobs/uploads/u?_state=3"))
            .Expect("PUT", $"/v2/team/app/blobs/uploads/u?_state=3&digest={digest}", r =>
            {
                Assert.Empty(r.Body);
                Assert.Equal("0", r.Header("Content-Length"));
                return Reply.Status(201, ("Docker-Content-Digest", digest));
            });
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options() with { ChunkedUploadThreshold = 1000, ChunkSize = 1000 });

        var result = await client.UploadBlobAsync("team/app", Blob(content), ct);

        Assert.Equal(3, result.Chunks);
        server.AssertComplete();
    }

    [Fact]
    public async Task Content_that_does_not_match_the_digest_it_was_fetched_by_is_IMB2008()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        var wanted = Digest.Of(Encoding.UTF8.GetBytes("the real thing"));
        server
            .Expect("GET", $"/v2/team/app/manifests/{wanted}", ManifestReply())
            .Expect("GET", $"/v2/team/app/blobs/{wanted}", Reply.Bytes(200, Encoding.UTF8.GetBytes("a fake thing!!")));
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options());

        var manifest = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.GetManifestAsync("team/app", wanted.Value, ct));
        await using var blob = await client.GetBlobAsync("team/app", wanted, ct);
        var read = await Assert.ThrowsAsync<ImmutableBuildException>(() => blob.CopyToAsync(Stream.Null, ct));

        Assert.Equal(RegistryErrors.DigestMismatch, manifest.Code);
        Assert.Equal(RegistryErrors.DigestMismatch, read.Code);
        Assert.Contains(Digest.Of(Encoding.UTF8.GetBytes("a fake thing!!")).Value, read.Message, StringComparison.Ordinal);
        server.AssertComplete();
    }

    [Fact]
    public async Task Tag_lists_follow_Link_headers_to_the_last_page()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        server
            .Expect("GET", "/v2/team/app/tags/list?n=2", Reply.Json(200, "{\"name\":\"team/app\",\"tags\":[\"a\",\"b\"]}", ("Link", "</v2/team/app/tags/list?last=b&n=2>; rel=\"next\"")))
            .Expect("GET", "/v2/team/app/tags/list?last=b&n=2", Reply.Json(200, "{\"name\":\"team/app\",\"tags\":[\"c\",\"d\"]}", ("Link", $"<http://{server.Address}/v2/team/app/tags/list?last=d&n=2>; rel=\"next\"")))
            .Expect("GET", "/v2/team/app/tags/list?last=d&n=2", Reply.Json(200, "{\"name\":\"team/app\",\"tags\":[\"e\"]}"));
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options());

        Assert.Equal(["a", "b", "c", "d", "e"], await client.ListTagsAsync("team/app", pageSize: 2, ct));
        server.AssertComplete();
    }

    [Fact]
    public async Task A_schema_1_manifest_is_IMB2012()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new ScriptedRegistry();
        server.Expect("GET", "/v2/team/app/manifests/old", Reply.Bytes(200, Encoding.UTF8.GetBytes("{\"schemaVersion\":1}"), ("Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws")));
        using var client = new RegistryClient(server.Address, RegistryTestKit.Options());

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.GetManifestAsync("team/app", "old", ct));

        Assert.Equal(RegistryErrors.Unsupported, error.Code);
        server.AssertComplete();
    }

    private static BlobContent Blob(byte[] content) =>
        new(new Descriptor(MediaTypes.OciLayerGzip, Digest.Of(content).Value, content.Length), () => new MemoryStream(content));

    private static Reply Chunk(RecordedRequest request, string range, byte[] expected, string next)
    {
        Assert.Equal(range, request.Header("Content-Range"));
        Assert.Equal(expected, request.Body);
        return Reply.Status(202, ("Location", next), ("Range", "0-" + range.Split('-')[1]));
    }

    private static Reply ManifestReply() => Reply.Bytes(
        200,
        Manifest,
        ("Content-Type", MediaTypes.OciManifest),
        ("Docker-Content-Digest", Digest.Of(Manifest).Value));
}
