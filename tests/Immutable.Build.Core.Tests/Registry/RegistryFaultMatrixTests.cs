using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Immutable.Build.Images;
using Immutable.Build.Registry;
using Immutable.Build.Releases;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>
/// Every kind of registry request, broken in every way the fault proxy knows, once and for good, while a real push runs
/// through it to the real registry: the base image is read through the proxy, its layers mounted (or, for the layer-GET
/// row, copied), the app layer sent in PATCH chunks and the tag written under the lease. Whatever happens, the registry
/// (read directly, past the proxy) holds either this image under the tag with every blob it names, or no tag at all, and a
/// failure is an IMB code; each case ends within its time bound.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class RegistryFaultMatrixTests(RegistryFixture registry, BasicAuthRegistryFixture authRegistry) : IClassFixture<BasicAuthRegistryFixture>
{
    private const string Tag = "1.0.0";
    internal const string BaseTag = "1";
    private const int Parallel = 6;

    /// <summary>What one case may take: the slowest permanent fault is a stall on every attempt of every upload restart.</summary>
    private static readonly TimeSpan CaseLimit = TimeSpan.FromSeconds(40);

    private static readonly RegistryFault[] Faults = Enum.GetValues<RegistryFault>();
    private static readonly int[] Counts = [1, FaultPlan.Always];
    internal static readonly RepositoryLeaseTiming QuickLease = new(TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));
    private static readonly SemaphoreSlim BaseGate = new(1, 1);
    private static readonly Dictionary<string, (string Repository, IReadOnlySet<string> Layers)> Bases = [];

    /// <summary>The kinds with at least one fault that is run; a kind with none is only in the left-out table.</summary>
    public static TheoryData<RegistryRequestKind> Kinds => new(Enum.GetValues<RegistryRequestKind>().Where(k => k != RegistryRequestKind.Other && Faults.Any(f => LeftOut(k, f) is null)));

    /// <summary>Why a kind x fault is not run; null when it is. Every left-out case is listed with this reason.</summary>
    public static string? LeftOut(RegistryRequestKind kind, RegistryFault fault) => (kind, fault) switch
    {
        (RegistryRequestKind.Ping, _) => "the client never sends GET /v2/: it learns a registry's authentication from the 401 to its first real request (the AuthChallenge row)",
        (RegistryRequestKind.Token, _) => "no real token service runs in the test infrastructure (docker-registry's token auth needs an external issuer); token-endpoint answers are in HostileRegistryResponseTests",
        (RegistryRequestKind.BlobHead or RegistryRequestKind.ManifestHead, RegistryFault.ResetMidBody or RegistryFault.TruncatedBody) => "a HEAD answer has no body to cut",
        (RegistryRequestKind.UploadStart or RegistryRequestKind.Mount, RegistryFault.ResetMidBody) => "neither the POST nor its 201/202 answer has a body",
        (RegistryRequestKind.AuthChallenge, RegistryFault.WrongDigest) => "the 401 carries no content with a digest",
        (not (RegistryRequestKind.BaseManifestGet or RegistryRequestKind.BaseConfigGet or RegistryRequestKind.BaseLayerGet), RegistryFault.WrongDigest) =>
            "only a GET of base content has bytes the client checks against a digest; the other answers carry none",
        _ => null,
    };

    [Fact]
    public void Every_left_out_case_has_its_reason_and_the_rest_is_run()
    {
        var all = Enum.GetValues<RegistryRequestKind>().Where(k => k != RegistryRequestKind.Other).SelectMany(k => Faults.Select(f => (k, f))).ToList();
        var left = all.Where(c => LeftOut(c.k, c.f) is not null).ToList();
        foreach (var (kind, fault) in left)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"left out: {kind} x {fault}: {LeftOut(kind, fault)}");
        }

        // Each run case is run once and for good (x2); a left-out one is not counted as passed anywhere.
        TestContext.Current.TestOutputHelper?.WriteLine($"{(all.Count - left.Count) * Counts.Length} cases run, {left.Count * Counts.Length} left out");
        Assert.All(left, c => Assert.False(string.IsNullOrWhiteSpace(LeftOut(c.k, c.f))));
        Assert.Contains(all, c => LeftOut(c.k, c.f) is null && c.f == RegistryFault.WrongDigest);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_push_through_a_faulty_registry_ends_whole_or_not_at_all(RegistryRequestKind kind)
    {
        var auth = kind == RegistryRequestKind.AuthChallenge;
        if (auth)
        {
            authRegistry.Require();
        }
        else
        {
            registry.Require();
        }

        var ct = TestContext.Current.CancellationToken;
        var upstream = auth ? authRegistry.Address : registry.Address;
        var credential = auth ? RegistryCredential.FromPassword(authRegistry.Username, authRegistry.Password) : null;
        var (baseRepository, baseLayers) = await BaseAsync(upstream, credential, ct);
        var cases = Faults.Where(f => LeftOut(kind, f) is null).SelectMany(f => Counts.Select(n => new FaultPlan(kind, f, n))).ToList();
        using var gate = new SemaphoreSlim(Parallel);
        var results = await Task.WhenAll(cases.Select(async plan =>
        {
            await gate.WaitAsync(ct);
            try
            {
                return await RunCaseAsync(plan, upstream, credential, baseRepository, baseLayers, ct);
            }
            finally
            {
                gate.Release();
            }
        }));

        foreach (var r in results)
        {
            TestContext.Current.TestOutputHelper?.WriteLine(r.ToString());
        }

        var failed = results.Where(r => r.Problem is not null).ToList();
        Assert.True(failed.Count == 0, $"{failed.Count} of {results.Length} cases broke the rule:\n" + string.Join("\n", failed.Select(f => f + "\n    " + f.Problem + "\n    wire: " + string.Join(" | ", f.Wire))));
    }

    private static async Task<CaseResult> RunCaseAsync(FaultPlan plan, string upstream, RegistryCredential? credential, string baseRepository, IReadOnlySet<string> baseLayers, CancellationToken ct)
    {
        var repository = RegistryTestKit.NewRepository("fault");
        await using var proxy = new RegistryFaultProxy(upstream)
        {
            BaseRepository = baseRepository,
            BaseLayers = baseLayers,
            UpstreamRequiresAuth = credential is not null,
        };
        var log = new List<string>();
        using var client = new RegistryClient(proxy.Address, FaultOptions(credential, log));
        // The plan is armed only now, so nothing above consumed it.
        proxy.Plan = plan;
        var clock = Stopwatch.StartNew();
        Digest? pushed = null;
        Digest? expected = null;
        Exception? error = null;
        try
        {
            var fetcher = new RegistryManifestFetcher(client);
            var resolved = await new RegistryBase(fetcher, ImageReference.Parse($"{proxy.Address}/{baseRepository}:{BaseTag}"), "linux-x64").ResolveAsync(ct);
            // The layer-GET row copies the base's layers (a base from another registry); every other row mounts them.
            var image = OnBase(resolved, mount: plan.Kind != RegistryRequestKind.BaseLayerGet);
            expected = image.Digest;
            pushed = (await ImagePusher.PushAsync(client, repository, image, [Tag], allowOverwrite: false, null, ct, leaseTiming: QuickLease)).Digest;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            error = e;
        }

        var elapsed = clock.Elapsed;
        proxy.Plan = null;
        var problem = await JudgeAsync(plan, upstream, credential, repository, expected, pushed, error, elapsed, proxy.Injected);
        return new CaseResult(plan, elapsed, pushed is not null, error is ImmutableBuildException ib ? ib.Code : error?.GetType().Name, problem, proxy.Log, error?.Message);
    }

    private static async Task<string?> JudgeAsync(FaultPlan plan, string upstream, RegistryCredential? credential, string repository, Digest? expected, Digest? pushed, Exception? error, TimeSpan elapsed, int injected)
    {
        if (injected == 0)
        {
            return "the fault never fired: the case tested nothing";
        }

        if (elapsed > CaseLimit)
        {
            return $"took {elapsed.TotalSeconds:0.0} s, more than the {CaseLimit.TotalSeconds:0} s bound";
        }

        // Past the proxy: what the registry really holds.
        using var direct = new RegistryClient(upstream, RegistryTestKit.Options() with { Credential = credential });
        var tag = await direct.HeadManifestAsync(repository, Tag);
        if (tag is not null)
        {
            var manifest = ImageJson.ParseManifest((await direct.GetManifestAsync(repository, Tag)).Content);
            foreach (var blob in manifest.Layers.Select(l => l.Digest).Append(manifest.Config.Digest))
            {
                if (!await direct.BlobExistsAsync(repository, Digest.Parse(blob)))
                {
                    return $"the tag points at {tag.Digest}, whose blob {blob} is missing";
                }
            }
        }

        // Only the tag: a lease left behind would hold every other publisher off until it went stale.
        var tags = await direct.ListTagsAsync(repository);
        if (tags.Any(t => t != Tag))
        {
            return $"the repository is left with tags [{string.Join(", ", tags)}]";
        }

        if (pushed is { } digest)
        {
            if (tag?.Digest != digest || digest != expected)
            {
                return $"the push reported {digest} but the tag holds {tag?.Digest.ToString() ?? "nothing"} (built {expected})";
            }
        }
        else
        {
            if (error is not ImmutableBuildException failure)
            {
                return $"failed without an IMB code: {error}";
            }

            if (tag is not null)
            {
                return $"failed with {failure.Code} but left the tag at {tag.Digest}";
            }

            if (failure.Message.Contains("   at ", StringComparison.Ordinal))
            {
                return "the message carries a stack trace";
            }
        }

        var want = Expected(plan);
        var got = pushed is not null ? "success" : ((ImmutableBuildException)error!).Code;
        return want.Contains(got, StringComparer.Ordinal) ? null : $"expected {string.Join(" or ", want)}, got {got}: {error?.Message}";
    }

    /// <summary>
    /// Once, every fault but a wrong digest is transient and must be ridden out. For good, a status ends in IMB2002 and a
    /// network failure in IMB2001, unless the registry did the work behind the lost answer and the client can tell.
    /// </summary>
    private static string[] Expected(FaultPlan plan) => plan switch
    {
        { Fault: RegistryFault.WrongDigest } => [RegistryErrors.DigestMismatch],
        { Count: 1 } => ["success"],
        { Fault: RegistryFault.TooManyRequests or RegistryFault.TooManyRequestsRetryAfter or RegistryFault.InternalError or RegistryFault.BadGateway or RegistryFault.Unavailable } => [RegistryErrors.Unavailable],
        _ => ["success", RegistryErrors.Unreachable],
    };

    internal static RegistryClientOptions FaultOptions(RegistryCredential? credential, List<string> log) => new()
    {
        Credential = credential,
        Credentials = new RegistryCredentials(_ => null),
        GetEnvironmentVariable = _ => null,
        MaxAttempts = 3,
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        RetryMaxDelay = TimeSpan.FromMilliseconds(100),
        MaxRetryAfter = TimeSpan.FromSeconds(2),
        // Sub-second would fire on a busy shared machine; one second still keeps a stall case short.
        RequestTimeout = TimeSpan.FromSeconds(1),
        ConnectTimeout = TimeSpan.FromSeconds(2),
        // A 4 KiB app layer goes in 1 KiB PATCH chunks, the config in one PUT.
        ChunkedUploadThreshold = 1024,
        ChunkSize = 1024,
        Log = line => { lock (log) { log.Add(line); } },
    };

    /// <summary>The base image, pushed once per registry straight to it (not through any proxy).</summary>
    internal static async Task<(string Repository, IReadOnlySet<string> Layers)> BaseAsync(string upstream, RegistryCredential? credential, CancellationToken ct)
    {
        await BaseGate.WaitAsync(ct);
        try
        {
            if (!Bases.TryGetValue(upstream, out var known))
            {
                var repository = RegistryTestKit.NewRepository("fault-base");
                var image = Assemble([], [Random(2048), Random(2048)], null);
                using var client = new RegistryClient(upstream, RegistryTestKit.Options() with { Credential = credential });
                await ImagePusher.PushAsync(client, repository, image, [BaseTag], false, null, ct);
                known = Bases[upstream] = (repository, image.Layers.Select(l => l.Descriptor.Digest).ToHashSet());
            }

            return known;
        }
        finally
        {
            BaseGate.Release();
        }
    }

    /// <summary>An app image on <paramref name="baseImage"/>: its layers (mountable from the base's repository or not), one new 4 KiB layer, a new config.</summary>
    internal static ImageContent OnBase(BaseImage baseImage, bool mount) =>
        Assemble(
            baseImage.Layers.Select(d => new BlobContent(d, () => baseImage.OpenLayer(d), mount ? baseImage.Repository : null)).ToList(),
            [Random(4096)],
            baseImage.Config.RootFs.DiffIds);

    private static (byte[] Tar, byte[] Gzip) Random(int bytes) => TestImage.Layer(RandomNumberGenerator.GetBytes(bytes));

    /// <summary>A valid OCI image: <paramref name="below"/> (with their diff ids) and new layers on top, a config of its own.</summary>
    private static ImageContent Assemble(IReadOnlyList<BlobContent> below, IReadOnlyList<(byte[] Tar, byte[] Gzip)> added, IReadOnlyList<string>? belowDiffIds)
    {
        var layers = below
            .Concat(added.Select(a => new BlobContent(new Descriptor(MediaTypes.OciLayerGzip, Digest.Of(a.Gzip).Value, a.Gzip.Length), () => new MemoryStream(a.Gzip))))
            .ToList();
        var diffIds = (belowDiffIds ?? []).Concat(added.Select(a => Digest.Of(a.Tar).Value)).ToArray();
        var config = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = new Dictionary<string, string> { ["WorkingDir"] = "/" + Guid.NewGuid().ToString("N") },
            ["rootfs"] = new Dictionary<string, object> { ["type"] = "layers", ["diff_ids"] = diffIds },
        });
        var configDescriptor = new Descriptor(MediaTypes.OciConfig, Digest.Of(config).Value, config.Length);
        var manifest = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = Wire(configDescriptor),
            ["layers"] = layers.Select(l => Wire(l.Descriptor)).ToArray(),
        });
        return new ImageContent(manifest, MediaTypes.OciManifest, new BlobContent(configDescriptor, () => new MemoryStream(config)), layers);
    }

    private static Dictionary<string, object> Wire(Descriptor d) => new() { ["mediaType"] = d.MediaType, ["digest"] = d.Digest, ["size"] = d.Size };

    private sealed record CaseResult(FaultPlan Plan, TimeSpan Elapsed, bool Succeeded, string? Code, string? Problem, IReadOnlyList<string> Wire, string? Message)
    {
        public override string ToString() =>
            $"{(Problem is null ? "PASS" : "FAIL")} {Plan}: {(Succeeded ? "pushed" : "failed " + Code)} in {Elapsed.TotalSeconds:0.00} s";
    }
}
