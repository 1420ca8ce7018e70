using System.Diagnostics;
using System.Text;
using Immutable.Build.Images;
using Immutable.Build.Registry;
using Immutable.Build.Releases;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>
/// A registry (or something posing as one) that answers one kind of request with something hostile, while a real push runs
/// through the fault proxy to the real registry: each answer ends in an IMB code that says what to fix, with no stack trace
/// in the message, no tag in the registry, and no connection anywhere but loopback.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileRegistryResponseTests(RegistryFixture registry)
{
    private const string Tag = "1.0.0";
    private const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    private const string OciIndex = "application/vnd.oci.image.index.v1+json";

    /// <summary>A hostile answer for the requests it wants (kind, method, path and query; {base} is the base repository) and the code it must end in.</summary>
    private sealed record Hostility(Func<string, RegistryRequestKind, string, string, HostileAnswer?> Answer, string Code, string MessagePart);

    private static readonly Dictionary<string, Hostility> Table = new()
    {
        ["malformed manifest JSON"] = new(
            (_, kind, _, _) => kind == RegistryRequestKind.BaseManifestGet ? Json(OciManifest, "{\"schemaVersion\":2,\"config\":") : null,
            ImageErrors.BadDocumentCode,
            "cannot be read"),
        ["malformed index JSON"] = new(
            (_, kind, _, _) => kind == RegistryRequestKind.BaseManifestGet ? Json(OciIndex, "{\"schemaVersion\":2,\"mediaType\":\"" + OciIndex + "\",\"manifests\":[{\"mediaType\":5}") : null,
            ImageErrors.BadDocumentCode,
            "cannot be read"),
        ["manifest above the 4 MiB OCI limit"] = new(
            (_, kind, _, _) => kind == RegistryRequestKind.BaseManifestGet ? Json(OciManifest, "{\"schemaVersion\":2" + new string(' ', 5 * 1024 * 1024) + "}") : null,
            RegistryErrors.AnswerTooLarge,
            "4.0 MiB"),
        ["index that nests forever"] = new(NestedIndexes, ImageErrors.BadDocumentCode, "nest too deeply"),
        ["token endpoint answers junk"] = new((_, kind, _, _) => Token(kind, "text/plain", Encoding.UTF8.GetBytes("\u0001\u0002junk")), RegistryErrors.TokenServiceFailed, "without a token"),
        ["token endpoint answers HTML"] = new((_, kind, _, _) => Token(kind, "text/html", Encoding.UTF8.GetBytes("<html><body><h1>Sign in</h1></body></html>")), RegistryErrors.TokenServiceFailed, "without a token"),
        ["token endpoint answers an empty body"] = new((_, kind, _, _) => Token(kind, "application/json", []), RegistryErrors.TokenServiceFailed, "without a token"),
        ["token endpoint answers a huge body"] = new((_, kind, _, _) => Token(kind, "application/json", Encoding.UTF8.GetBytes("{\"token\":\"" + new string('a', 8 * 1024 * 1024) + "\"}")), RegistryErrors.AnswerTooLarge, "token request"),
        ["wrong Content-Type on a manifest"] = new(
            (_, kind, _, _) => kind == RegistryRequestKind.BaseManifestGet ? Json("text/html", "{\"schemaVersion\":1,\"name\":\"base\",\"tag\":\"1\",\"fsLayers\":[]}") : null,
            RegistryErrors.Unsupported,
            "text/html"),
        ["upload Location off loopback"] = new(
            (_, kind, _, _) => kind == RegistryRequestKind.UploadStart ? new HostileAnswer(202, [("Location", "http://registry.invalid/v2/x/blobs/uploads/s1?_state=1")], []) : null,
            RegistryErrors.ForeignLocation,
            "registry.invalid"),
        ["upload Location on another loopback host"] = new(
            (_, kind, _, _) => kind == RegistryRequestKind.UploadStart ? new HostileAnswer(202, [("Location", "http://127.0.0.2:9/v2/x/blobs/uploads/s1")], []) : null,
            RegistryErrors.ForeignLocation,
            "127.0.0.2:9"),
        ["Docker-Content-Digest disagrees with the body"] = new(
            (_, kind, _, _) => kind == RegistryRequestKind.BaseManifestGet
                ? new HostileAnswer(200, [("Content-Type", OciManifest), ("Docker-Content-Digest", "sha256:" + new string('0', 64))], Encoding.UTF8.GetBytes(LeafManifest))
                : null,
            RegistryErrors.DigestMismatch,
            "while reporting sha256:0000"),
        ["redirect loop on a base blob"] = new(
            (_, kind, _, target) => kind == RegistryRequestKind.BaseConfigGet ? new HostileAnswer(307, [("Location", "http://{proxy}" + target)], []) : null,
            RegistryErrors.RedirectLoop,
            "redirect"),
    };

    public static TheoryData<string> Cases => new(Table.Keys);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_hostile_answer_ends_in_a_code_that_says_what_to_fix_and_pushes_nothing(string name)
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var hostility = Table[name];
        var (baseRepository, baseLayers) = await RegistryFaultMatrixTests.BaseAsync(registry.Address, null, ct);
        var repository = RegistryTestKit.NewRepository("hostile");
        await using var proxy = new RegistryFaultProxy(registry.Address) { BaseRepository = baseRepository, BaseLayers = baseLayers };
        proxy.Answer = (kind, method, target) => hostility.Answer(baseRepository, kind, method, target);
        var elsewhere = new List<string>();
        var options = RegistryFaultMatrixTests.FaultOptions(null, []) with { WrapHandler = OnlyLoopback(elsewhere) };
        using var client = new RegistryClient(proxy.Address, options);
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(async () =>
        {
            var resolved = await new RegistryBase(new RegistryManifestFetcher(client), ImageReference.Parse($"{proxy.Address}/{baseRepository}:{RegistryFaultMatrixTests.BaseTag}"), "linux-x64").ResolveAsync(ct);
            await ImagePusher.PushAsync(client, repository, RegistryFaultMatrixTests.OnBase(resolved, mount: true), [Tag], false, null, ct, leaseTiming: RegistryFaultMatrixTests.QuickLease);
        });

        Assert.True(proxy.Injected > 0, "the hostile answer was never given: " + string.Join(" | ", proxy.Log));
        Assert.Equal(hostility.Code, error.Code);
        Assert.Contains(hostility.MessagePart, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.Message, StringComparison.Ordinal);
        Assert.Empty(elsewhere);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(30));
        Assert.Null(await registry.TagDigestAsync(repository, Tag));
    }

    /// <summary>Refuses, in-process, any connection that is not to 127.0.0.1 (and records it): nothing may leave the machine.</summary>
    private static Func<HttpMessageHandler, HttpMessageHandler> OnlyLoopback(List<string> elsewhere) => handler =>
    {
        ((SocketsHttpHandler)handler).ConnectCallback = async (context, ct) =>
        {
            if (context.DnsEndPoint.Host != "127.0.0.1")
            {
                lock (elsewhere)
                {
                    elsewhere.Add(context.DnsEndPoint.ToString());
                }

                throw new HttpRequestException("a test refuses connections off 127.0.0.1");
            }

            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(context.DnsEndPoint, ct);
            return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
        };
        return handler;
    };

    private static HostileAnswer Json(string contentType, string body) => new(200, [("Content-Type", contentType)], Encoding.UTF8.GetBytes(body));

    /// <summary>Every registry request draws a Bearer challenge naming the proxy's own realm, whose answer is <paramref name="body"/>.</summary>
    private static HostileAnswer? Token(RegistryRequestKind kind, string contentType, byte[] body) =>
        kind == RegistryRequestKind.Token
            ? new HostileAnswer(200, [("Content-Type", contentType)], body)
            : new HostileAnswer(401, [("WWW-Authenticate", "Bearer realm=\"http://{proxy}/token\",service=\"hostile\""), ("Content-Type", "application/json")], Encoding.UTF8.GetBytes("{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"token needed\"}]}"));

    private static string LeafManifest =>
        "{\"schemaVersion\":2,\"mediaType\":\"" + OciManifest + "\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:" + new string('1', 64) + "\",\"size\":2},\"layers\":[]}";

    /// <summary>Indexes ten deep, each the linux/amd64 entry of the one above, every one with its right digest.</summary>
    private static HostileAnswer? NestedIndexes(string baseRepository, RegistryRequestKind kind, string method, string target)
    {
        if (kind != RegistryRequestKind.BaseManifestGet)
        {
            return null;
        }

        var levels = new List<byte[]>();
        var below = Digest.Of(Encoding.UTF8.GetBytes(LeafManifest));
        for (var i = 0; i < 10; i++)
        {
            var index = Encoding.UTF8.GetBytes(
                "{\"schemaVersion\":2,\"mediaType\":\"" + OciIndex + "\",\"manifests\":[{\"mediaType\":\"" + OciIndex + "\",\"digest\":\"" + below + "\",\"size\":100,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}");
            levels.Insert(0, index);
            below = Digest.Of(index);
        }

        var reference = target.Split('?')[0].Split("/manifests/")[1];
        var body = reference == RegistryFaultMatrixTests.BaseTag ? levels[0] : levels.FirstOrDefault(l => Digest.Of(l).Value == reference);
        return body is null ? new HostileAnswer(404, [], []) : new HostileAnswer(200, [("Content-Type", OciIndex)], body);
    }
}
