using System.Net;
using System.Net.Sockets;
using Immutable.Build.Images;
using Immutable.Build.Registry;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>The distribution API verbs against the real registry.</summary>
public sealed class RegistryClientTests(RegistryFixture registry)
{
    [Fact]
    public void Loopback_registries_are_spoken_to_over_plain_http()
    {
        registry.Require();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());
        Assert.True(client.IsPlainHttp);
        Assert.Equal(new Uri($"http://{registry.Address}/"), client.BaseAddress);
    }

    [Fact]
    public async Task Blobs_and_manifests_go_up_and_come_back_through_the_low_level_verbs()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("verbs");
        var image = TestImage.Create();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());
        var layer = image.Content.Layers[0];
        var layerDigest = Digest.Parse(layer.Descriptor.Digest);

        Assert.False(await client.BlobExistsAsync(repository, layerDigest, ct));
        var upload = await client.UploadBlobAsync(repository, layer, ct);
        var config = await client.UploadBlobAsync(repository, image.Content.Config, ct);
        Assert.Equal(new BlobUploadResult(layerDigest, false, layer.Descriptor.Size, 0), upload);
        Assert.False(config.Mounted);
        Assert.True(await client.BlobExistsAsync(repository, layerDigest, ct));

        var stored = await client.PutManifestAsync(repository, "v1", image.Content.Manifest, image.Content.ManifestMediaType, ct);
        Assert.Equal(image.Digest, stored);
        var head = await client.HeadManifestAsync(repository, "v1", ct);
        Assert.Equal(new ManifestInfo(image.Digest, MediaTypes.OciManifest, image.Content.Manifest.Length), head);

        await using var stream = await client.GetBlobAsync(repository, layerDigest, ct);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, ct);
        Assert.Equal(image.LayerBytes[0], copy.ToArray());
    }

    [Fact]
    public async Task A_chunked_upload_sends_patches_with_content_ranges_the_registry_accepts()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("chunks");
        var image = TestImage.Create(layerBytes: 10_000);
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options() with { ChunkedUploadThreshold = 1000, ChunkSize = 1000 });
        var layer = image.Content.Layers[0];

        var result = await client.UploadBlobAsync(repository, layer, ct);

        Assert.Equal((int)((layer.Descriptor.Size + 999) / 1000), result.Chunks);
        Assert.Equal(image.LayerBytes[0], await client.GetBlobBytesAsync(repository, Digest.Parse(layer.Descriptor.Digest), cancellationToken: ct));
    }

    [Fact]
    public async Task Mounting_links_a_blob_from_another_repository_and_reports_a_declined_mount()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var source = RegistryTestKit.NewRepository("mount-src");
        var target = RegistryTestKit.NewRepository("mount-dst");
        var image = TestImage.Create();
        var layer = image.Content.Layers[0];
        var digest = Digest.Parse(layer.Descriptor.Digest);
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());
        await client.UploadBlobAsync(source, layer, ct);

        Assert.False(await client.MountBlobAsync(target, digest, RegistryTestKit.NewRepository("elsewhere"), ct));
        Assert.False(await client.BlobExistsAsync(target, digest, ct));
        Assert.True(await client.MountBlobAsync(target, digest, source, ct));
        Assert.True(await client.BlobExistsAsync(target, digest, ct));
    }

    [Fact]
    public async Task Tag_lists_list_every_tag_and_an_unknown_repository_has_none()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("tags");
        var image = TestImage.Create();
        var wire = new WireLog();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options(wire: wire));
        string[] tags = ["a1", "b2", "c3", "d4", "e5"];
        await ImagePusher.PushAsync(client, repository, image.Content, tags, false, null, ct);
        wire.Clear();

        var listed = await client.ListTagsAsync(repository, pageSize: 2, ct);

        // distribution 2.8 ignores n and answers in one page; paging by Link is covered by the scripted registry.
        Assert.Equal(tags, listed.Order());
        Assert.Empty(await client.ListTagsAsync(RegistryTestKit.NewRepository("never-pushed"), cancellationToken: ct));
    }

    [Fact]
    public async Task Deleting_a_manifest_by_digest_removes_it()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("delete");
        var image = TestImage.Create();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());
        await ImagePusher.PushAsync(client, repository, image.Content, ["doomed"], false, null, ct);

        Assert.True(await client.DeleteManifestAsync(repository, image.Digest, ct));

        Assert.Null(await client.HeadManifestAsync(repository, image.Digest.Value, ct));
        Assert.Null(await client.TryGetManifestAsync(repository, "doomed", ct));
        Assert.False(await client.DeleteManifestAsync(repository, image.Digest, ct));
    }

    [Fact]
    public async Task A_missing_base_image_names_what_to_check()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.GetManifestAsync("base/nonexistent", "9.9", ct));

        Assert.Equal(RegistryErrors.ManifestNotFound, error.Code);
        Assert.Contains($"{registry.Address}/base/nonexistent:9.9 does not exist", error.Message, StringComparison.Ordinal);
        Assert.Contains("ContainerBaseImage", error.Message, StringComparison.Ordinal);
        Assert.Null(await client.HeadManifestAsync("base/nonexistent", "9.9", ct));
    }

    [Fact]
    public async Task A_missing_blob_is_IMB2007()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.GetBlobAsync(RegistryTestKit.NewRepository("none"), Digest.Of([42]), ct));

        Assert.Equal(RegistryErrors.BlobNotFound, error.Code);
    }

    [Fact]
    public async Task An_invalid_manifest_is_refused_with_the_registrys_own_error_code()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var image = TestImage.Create();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());

        // The blobs were never uploaded, so the registry refuses the manifest.
        var error = await Assert.ThrowsAsync<ImmutableBuildException>(
            () => client.PutManifestAsync(RegistryTestKit.NewRepository("invalid"), "1", image.Content.Manifest, MediaTypes.OciManifest, ct));

        Assert.Equal(RegistryErrors.RequestRejected, error.Code);
        Assert.Contains("MANIFEST_BLOB_UNKNOWN", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_names_are_refused_before_any_request()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var wire = new WireLog();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options(wire: wire));

        Assert.Equal(RegistryErrors.InvalidName, (await Assert.ThrowsAsync<ImmutableBuildException>(() => client.HeadManifestAsync("Upper/Case", "1", ct))).Code);
        Assert.Equal(RegistryErrors.InvalidName, (await Assert.ThrowsAsync<ImmutableBuildException>(() => client.HeadManifestAsync("ok/name", "bad tag", ct))).Code);
        Assert.Equal(RegistryErrors.InvalidName, (await Assert.ThrowsAsync<ImmutableBuildException>(() => ImagePusher.PushAsync(client, "ok/name", TestImage.Create().Content, ["-nope"], false, null, ct))).Code);
        Assert.Empty(wire.Requests);
    }

    [Fact]
    public async Task An_unreachable_registry_is_retried_then_reported_as_IMB2001()
    {
        var ct = TestContext.Current.CancellationToken;
        var time = new FakeTime();
        var log = new List<string>();
        using var client = new RegistryClient($"127.0.0.1:{ClosedPort()}", RegistryTestKit.Options(time, log: log) with { MaxAttempts = 3 });

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => client.HeadManifestAsync("team/app", "1", ct));

        Assert.Equal(RegistryErrors.Unreachable, error.Code);
        Assert.Contains("after 3 attempts", error.Message, StringComparison.Ordinal);
        Assert.Contains("Check the registry address", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, time.Delays.Count);
        Assert.Equal(2, log.Count(l => l.Contains("retrying", StringComparison.Ordinal)));
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
