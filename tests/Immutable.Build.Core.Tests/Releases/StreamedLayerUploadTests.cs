using Immutable.Build.Images;
using Immutable.Build.Registry;
using Immutable.Build.Releases;
using Immutable.Build.Core.Tests.Registry;
using Immutable.Build.Testing;

namespace Immutable.Build.Core.Tests.Releases;

/// <summary>A big new layer goes to the registry while it compresses, and only when the tag guard is going to write.</summary>
public sealed class StreamedLayerUploadTests(RegistryFixture registry) : IDisposable
{
    private readonly ReleaseProject _project = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _project.Dispose();

    private void WriteBig(int seed)
    {
        // Above StreamedLayerUploads.MinimumTarLength, and incompressible, so the gzip spans several upload chunks.
        var bytes = new byte[(int)StreamedLayerUploads.MinimumTarLength + (3 << 20)];
        new Random(seed).NextBytes(bytes);
        var path = Path.Combine(_project.PublishDirectory, "data", "big.bin");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }

    [Fact]
    public async Task A_big_layer_is_committed_while_it_compresses_and_the_push_counts_it_as_uploaded()
    {
        registry.Require();
        _project.WritePublish("App.dll", "app");
        WriteBig(1);
        var repository = RegistryTestKit.NewRepository("streamed");
        var log = new RecordingLog();

        var result = await ReleasePipeline.RunAsync(_project.Request with { Registry = registry.Address, Repository = repository }, log.Log, Ct);

        Assert.Contains(log.Detail, l => l.Contains($"uploading to {registry.Address}/{repository} while it compresses", StringComparison.Ordinal));
        var app = result.Manifest.Image.Layers.Single(l => l.Name == "app");
        Assert.Contains(log.Detail, l => l.Contains($"uploaded blob {app.Digest}", StringComparison.Ordinal) && l.EndsWith("while it was compressed", StringComparison.Ordinal));
        Assert.Contains(log.Info, l => l.Contains("blobs uploaded", StringComparison.Ordinal) && l.Contains(", 0 mounted, 0 already present", StringComparison.Ordinal));

        // What the registry holds under the layer's digest is the cached layer, byte for byte.
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());
        var cached = Directory.EnumerateFiles(Path.Combine(_project.LayerCacheDirectory, "sha256")).Single(f => Path.GetFileName(f) == Digest.Parse(app.Digest).Hex);
        Assert.Equal(await File.ReadAllBytesAsync(cached, Ct), await client.GetBlobBytesAsync(repository, Digest.Parse(app.Digest), 128L << 20, Ct));
        Assert.Equal(Digest.Parse(result.Digest), (await client.HeadManifestAsync(repository, result.ReleaseId, Ct))!.Digest);
    }

    [Fact]
    public async Task When_a_tag_exists_nothing_is_uploaded_before_the_guard_decides_so_a_refusal_writes_nothing()
    {
        registry.Require();
        _project.WritePublish("App.dll", "app");
        WriteBig(2);
        var repository = RegistryTestKit.NewRepository("streamed-guard");
        var request = _project.Request with { Registry = registry.Address, Repository = repository, UserTags = ["fixed"] };
        await ReleasePipeline.RunAsync(request, new RecordingLog().Log, Ct);

        WriteBig(3);
        var log = new RecordingLog();
        var refused = await Assert.ThrowsAsync<ImmutableBuildException>(() => ReleasePipeline.RunAsync(request, log.Log, Ct));

        Assert.Equal("IMB2016", refused.Code);
        Assert.DoesNotContain(log.Detail, l => l.Contains("while it compresses", StringComparison.Ordinal));
        Assert.Contains(log.Detail, l => l.Contains(":fixed exists, so the tag guard decides before any layer is uploaded", StringComparison.Ordinal));
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());
        var newLayer = Directory.EnumerateFiles(Path.Combine(_project.LayerCacheDirectory, "sha256")).Select(f => Digest.Parse("sha256:" + Path.GetFileName(f)));
        foreach (var digest in newLayer)
        {
            Assert.False(await client.BlobExistsAsync(repository, digest, Ct) && !await WasPushedFirstAsync(client, repository, digest), $"{digest} was uploaded by the refused publish");
        }
    }

    [Theory]
    [InlineData(RegistryFault.InternalError)]
    [InlineData(RegistryFault.ResetMidBody)]
    public async Task A_streamed_upload_that_fails_sends_the_layer_the_ordinary_way(RegistryFault fault)
    {
        registry.Require();
        _project.WritePublish("App.dll", "app");
        WriteBig(4);
        var repository = RegistryTestKit.NewRepository("streamed-fault");
        await using var proxy = new RegistryFaultProxy(registry.Address) { Plan = new FaultPlan(RegistryRequestKind.ChunkPatch, fault, 1) };
        var log = new RecordingLog();

        var result = await ReleasePipeline.RunAsync(_project.Request with { Registry = proxy.Address, Repository = repository }, log.Log, Ct);

        Assert.Equal(1, proxy.Injected);
        Assert.Contains(log.Detail, l => l.Contains("streaming the layer while it compresses stopped", StringComparison.Ordinal));
        Assert.DoesNotContain(log.Detail, l => l.EndsWith("while it was compressed", StringComparison.Ordinal));
        var app = result.Manifest.Image.Layers.Single(l => l.Name == "app");
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());
        var cached = Path.Combine(_project.LayerCacheDirectory, "sha256", Digest.Parse(app.Digest).Hex);
        Assert.Equal(await File.ReadAllBytesAsync(cached, Ct), await client.GetBlobBytesAsync(repository, Digest.Parse(app.Digest), 128L << 20, Ct));
        Assert.Equal(Digest.Parse(result.Digest), (await client.HeadManifestAsync(repository, result.ReleaseId, Ct))!.Digest);
    }

    private static async Task<bool> WasPushedFirstAsync(RegistryClient client, string repository, Digest digest)
    {
        var first = await client.GetManifestAsync(repository, "fixed", Ct);
        return System.Text.Encoding.UTF8.GetString(first.Content).Contains(digest.Value, StringComparison.Ordinal);
    }
}
