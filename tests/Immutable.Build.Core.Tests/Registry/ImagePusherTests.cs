using Immutable.Build.Images;
using Immutable.Build.Registry;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>The push under the tag guard, against the real registry.</summary>
public sealed class ImagePusherTests(RegistryFixture registry)
{
    [Fact]
    public async Task A_pushed_image_reads_back_byte_for_byte_by_tag_and_by_digest()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("push");
        var image = TestImage.Create();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());

        var result = await ImagePusher.PushAsync(client, repository, image.Content, ["1.0.0", "sha-abc"], allowOverwrite: false, null, ct);

        Assert.Equal(image.Digest, result.Digest);
        Assert.All(result.Tags, t => Assert.Equal(TagDecision.Push, t.Decision));
        Assert.All(result.Tags, t => Assert.Null(t.ExistingDigest));
        Assert.Equal(Sorted(image.BlobDigests), Sorted(result.BlobsUploaded));
        Assert.Equal(image.ConfigBytes.Length + image.LayerBytes.Sum(l => l.Length), result.BytesUploaded);
        Assert.True(result.ManifestWritten);
        Assert.Equal($"{registry.Address}/{repository}@{image.Digest}", result.Reference);

        var byTag = await client.GetManifestAsync(repository, "1.0.0", ct);
        var byDigest = await client.GetManifestAsync(repository, image.Digest.Value, ct);
        Assert.Equal(image.Content.Manifest, byTag.Content);
        Assert.Equal(image.Content.Manifest, byDigest.Content);
        Assert.Equal(image.Digest, byTag.Digest);
        Assert.Equal(MediaTypes.OciManifest, byDigest.MediaType);
        Assert.Equal(image.ConfigBytes, await client.GetBlobBytesAsync(repository, Digest.Parse(image.Content.Config.Descriptor.Digest), cancellationToken: ct));
        Assert.Equal(image.LayerBytes[0], await client.GetBlobBytesAsync(repository, Digest.Parse(image.Content.Layers[0].Descriptor.Digest), cancellationToken: ct));
        Assert.Equal(image.Digest, (await client.HeadManifestAsync(repository, "sha-abc", ct))!.Digest);
    }

    [Fact]
    public async Task A_refused_tag_of_the_same_commit_names_what_differs_after_reading_the_pushed_image_back()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("conflict");
        ImageSettings Settings(string source) => new()
        {
            Created = Images.ImageTestSupport.CommitTime,
            Entrypoint = ["/app/App"],
            WorkingDirectory = "/app",
            Labels = new Dictionary<string, string> { [TagConflict.RevisionLabel] = "0123456789abcdef0123456789abcdef01234567", [TagConflict.SourceLabel] = source },
        };
        var first = await Images.ImageTestSupport.BuildAppAsync(new ScratchBase("linux-x64"), "conflict-a", Settings("git@github.com:o/r"));
        var second = await Images.ImageTestSupport.BuildAppAsync(new ScratchBase("linux-x64"), "conflict-b", Settings("https://github.com/o/r"));
        var wire = new WireLog();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options(wire: wire));
        await ImagePusher.PushAsync(client, repository, first.Content, ["1.0.0"], false, null, ct);
        wire.Clear();

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(
            () => ImagePusher.PushAsync(client, repository, second.Content, ["1.0.0"], false, null, ct, new TagConflictHints(new Dictionary<string, string> { [TagConflict.DirtyFact] = "no" })));

        Assert.Equal(RegistryErrors.TagRefused, error.Code);
        Assert.Contains($"the tag '1.0.0' holds this same commit 0123456789ab ({first.Digest}) built with other content (the tag's → this build's): source label (org.opencontainers.image.source): 'git@github.com:o/r' → 'https://github.com/o/r'.", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("layer", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("reused", error.Message, StringComparison.Ordinal);
        // The explanation only reads: the existing manifest and config, nothing of this build, no write.
        Assert.Empty(wire.Writes);
        Assert.DoesNotContain(wire.Requests, r => second.Content.Layers.Any(l => r.Contains(l.Descriptor.Digest, StringComparison.Ordinal)));
        Assert.Equal(first.Digest, (await client.HeadManifestAsync(repository, "1.0.0", ct))!.Digest);
    }

    [Fact]
    public async Task A_rerun_adopts_every_tag_and_changes_nothing_in_the_registry()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("adopt");
        var image = TestImage.Create(layers: 2);
        var wire = new WireLog();
        var log = new List<string>();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options(wire: wire));
        await ImagePusher.PushAsync(client, repository, image.Content, ["v1", "latest-commit"], false, null, ct);
        var storage = StorageSnapshot(repository);
        var tagsBefore = await client.ListTagsAsync(repository, cancellationToken: ct);
        wire.Clear();

        var rerun = await ImagePusher.PushAsync(client, repository, image.Content, ["v1", "latest-commit"], false, log.Add, ct);

        Assert.True(rerun.NothingPushed);
        Assert.All(rerun.Tags, t => Assert.Equal(TagDecision.Adopt, t.Decision));
        Assert.All(rerun.Tags, t => Assert.Equal(image.Digest, t.ExistingDigest));
        Assert.Empty(rerun.BlobsUploaded);
        Assert.Empty(rerun.BlobsMounted);
        Assert.Empty(rerun.BlobsPresent);
        Assert.Equal(0, rerun.BytesUploaded);
        Assert.False(rerun.ManifestWritten);
        // On the wire: one manifest HEAD per tag, nothing else (not even blob HEADs).
        Assert.Equal(
            [$"HEAD /v2/{repository}/manifests/v1", $"HEAD /v2/{repository}/manifests/latest-commit"],
            wire.Requests);
        Assert.Contains(log, l => l.Contains("nothing pushed", StringComparison.Ordinal));
        // In the registry: same tags, same digests, and not one file of the repository touched.
        Assert.Equal(tagsBefore.Order(), (await client.ListTagsAsync(repository, cancellationToken: ct)).Order());
        Assert.Equal(image.Digest, (await client.HeadManifestAsync(repository, "v1", ct))!.Digest);
        Assert.Equal(storage, StorageSnapshot(repository));
    }

    [Fact]
    public async Task A_tag_that_points_at_other_content_is_refused_and_nothing_is_written()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("refuse");
        var first = TestImage.Create();
        var second = TestImage.Create();
        var wire = new WireLog();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options(wire: wire));
        await ImagePusher.PushAsync(client, repository, first.Content, ["1.0.0"], false, null, ct);
        var storage = StorageSnapshot(repository);
        wire.Clear();

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(
            () => ImagePusher.PushAsync(client, repository, second.Content, ["sha-new", "1.0.0"], false, null, ct));

        Assert.Equal(RegistryErrors.TagRefused, error.Code);
        Assert.Contains("'1.0.0'", error.Message, StringComparison.Ordinal);
        Assert.Contains(first.Digest.Value, error.Message, StringComparison.Ordinal);
        Assert.Contains(second.Digest.Value, error.Message, StringComparison.Ordinal);
        // Both causes are named, and "publish a new commit" is never the advice: the build may already be one.
        Assert.Contains("another commit reused a fixed tag", error.Message, StringComparison.Ordinal);
        Assert.Contains("the same commit built with other content", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("publish a new commit", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("ImmutableAllowTagOverwrite=true", error.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was pushed", error.Message, StringComparison.Ordinal);
        Assert.Empty(wire.Writes);
        Assert.DoesNotContain(wire.Requests, r => r.Contains("/blobs/", StringComparison.Ordinal));
        Assert.Equal(first.Digest, (await client.HeadManifestAsync(repository, "1.0.0", ct))!.Digest);
        Assert.Null(await client.HeadManifestAsync(repository, "sha-new", ct));
        Assert.Null(await client.HeadManifestAsync(repository, second.Digest.Value, ct));
        foreach (var blob in second.BlobDigests)
        {
            Assert.False(await client.BlobExistsAsync(repository, blob, ct));
        }

        Assert.Equal(storage, StorageSnapshot(repository));
    }

    [Fact]
    public async Task An_explicit_override_moves_the_tag_and_says_so_loudly()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("overwrite");
        var first = TestImage.Create();
        var second = TestImage.Create();
        var log = new List<string>();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());
        await ImagePusher.PushAsync(client, repository, first.Content, ["stable"], false, null, ct);

        var result = await ImagePusher.PushAsync(client, repository, second.Content, ["stable", "2.0.0"], allowOverwrite: true, log.Add, ct);

        Assert.Equal(new TagGuardResult("stable", TagDecision.Overwrite, first.Digest), result.Tags[0]);
        Assert.Equal(new TagGuardResult("2.0.0", TagDecision.Push, null), result.Tags[1]);
        Assert.Equal(second.Digest, (await client.HeadManifestAsync(repository, "stable", ct))!.Digest);
        Assert.Equal(second.Digest, (await client.HeadManifestAsync(repository, "2.0.0", ct))!.Digest);
        Assert.Contains(log, l => l.StartsWith("WARNING: overwriting tag", StringComparison.Ordinal) && l.Contains(first.Digest.Value, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Identical_content_under_a_new_tag_writes_only_the_tag()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("retag");
        var image = TestImage.Create();
        var wire = new WireLog();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options(wire: wire));
        await ImagePusher.PushAsync(client, repository, image.Content, ["commit-a"], false, null, ct);
        wire.Clear();

        var result = await ImagePusher.PushAsync(client, repository, image.Content, ["commit-b"], false, null, ct);

        Assert.Equal(TagDecision.Push, result.Tags.Single().Decision);
        Assert.Empty(result.BlobsUploaded);
        Assert.Equal(Sorted(image.BlobDigests), Sorted(result.BlobsPresent));
        // The new tag is written under the repository's lease, which is deleted again; no blob is touched.
        Assert.Equal(
            [$"PUT /v2/{repository}/manifests/{RepositoryLease.Tag}", $"PUT /v2/{repository}/manifests/commit-b", $"DELETE /v2/{repository}/manifests/sha256:"],
            wire.Writes.Select(w => w.StartsWith("DELETE ", StringComparison.Ordinal) ? w[..w.IndexOf(':', StringComparison.Ordinal)] + ":" : w));
        Assert.DoesNotContain(wire.Requests, r => r.Contains("/blobs/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_tags_the_image_is_pushed_by_digest_and_a_rerun_writes_nothing()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("untagged");
        var image = TestImage.Create();
        var wire = new WireLog();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options(wire: wire));

        var first = await ImagePusher.PushAsync(client, repository, image.Content, [], false, null, ct);
        wire.Clear();
        var rerun = await ImagePusher.PushAsync(client, repository, image.Content, [], false, null, ct);
        var rerunRequests = wire.Requests;

        Assert.True(first.ManifestWritten);
        Assert.Empty(first.Tags);
        Assert.Equal(image.Content.Manifest, (await client.GetManifestAsync(repository, image.Digest.Value, ct)).Content);
        Assert.True(rerun.NothingPushed);
        Assert.Equal([$"HEAD /v2/{repository}/manifests/{image.Digest}"], rerunRequests);
        Assert.Empty(await client.ListTagsAsync(repository, cancellationToken: ct));
    }

    [Fact]
    public async Task Layers_of_a_base_in_another_repository_are_mounted_not_uploaded()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var baseRepository = RegistryTestKit.NewRepository("base");
        var appRepository = RegistryTestKit.NewRepository("app");
        var layer = TestImage.Layer(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2048));
        var baseImage = TestImage.WithLayers([layer], null, withContent: true);
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());
        await ImagePusher.PushAsync(client, baseRepository, baseImage.Content, ["1"], false, null, ct);

        // The app image only knows the base layer by descriptor: no bytes, just where it lives.
        var app = TestImage.WithLayers([layer], baseRepository, withContent: false);
        var result = await ImagePusher.PushAsync(client, appRepository, app.Content, ["1"], false, null, ct);

        var layerDigest = Digest.Parse(app.Content.Layers[0].Descriptor.Digest);
        Assert.Equal([layerDigest], result.BlobsMounted);
        Assert.Equal([Digest.Parse(app.Content.Config.Descriptor.Digest)], result.BlobsUploaded);
        Assert.Equal(app.ConfigBytes.Length, result.BytesUploaded);
        Assert.Equal(layer.Gzip, await client.GetBlobBytesAsync(appRepository, layerDigest, cancellationToken: ct));
    }

    [Fact]
    public async Task A_mount_the_registry_declines_falls_back_to_uploading_in_the_same_session()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("mount-fallback");
        var layer = TestImage.Layer(System.Security.Cryptography.RandomNumberGenerator.GetBytes(1024));
        var image = TestImage.WithLayers([layer], RegistryTestKit.NewRepository("empty"), withContent: true);
        var wire = new WireLog();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options(wire: wire));

        var result = await ImagePusher.PushAsync(client, repository, image.Content, ["1"], false, null, ct);

        Assert.Empty(result.BlobsMounted);
        Assert.Contains(Digest.Parse(image.Content.Layers[0].Descriptor.Digest), result.BlobsUploaded);
        // One POST for the layer (the mount attempt that became its upload session), one for the config.
        Assert.Equal(2, wire.Requests.Count(r => r.StartsWith($"POST /v2/{repository}/blobs/uploads/", StringComparison.Ordinal)));
        Assert.Equal(layer.Gzip, await client.GetBlobBytesAsync(repository, Digest.Parse(image.Content.Layers[0].Descriptor.Digest), cancellationToken: ct));
    }

    [Fact]
    public async Task A_layer_that_can_be_neither_mounted_nor_read_fails_before_any_manifest_is_written()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("no-content");
        var image = TestImage.WithLayers([TestImage.Layer([1, 2, 3])], RegistryTestKit.NewRepository("nowhere"), withContent: false);
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());

        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => ImagePusher.PushAsync(client, repository, image.Content, ["1"], false, null, ct));

        Assert.Equal(RegistryErrors.BlobContentUnavailable, error.Code);
        Assert.Null(await client.HeadManifestAsync(repository, "1", ct));
    }

    [Fact]
    public async Task Large_layers_go_up_in_chunks_and_read_back_intact()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("chunked");
        var image = TestImage.Create(layerBytes: 20_000);
        var wire = new WireLog();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options(wire: wire) with { ChunkedUploadThreshold = 1, ChunkSize = 4096 });

        var result = await ImagePusher.PushAsync(client, repository, image.Content, ["chunked"], false, null, ct);

        var layer = image.Content.Layers[0].Descriptor;
        var expectedPatches = (int)((layer.Size + 4095) / 4096) + (int)((image.ConfigBytes.Length + 4095) / 4096);
        Assert.Equal(expectedPatches, wire.Requests.Count(r => r.StartsWith("PATCH ", StringComparison.Ordinal)));
        Assert.True(expectedPatches >= 6);
        Assert.Equal(image.LayerBytes[0], await client.GetBlobBytesAsync(repository, Digest.Parse(layer.Digest), cancellationToken: ct));
        Assert.Equal(image.Content.Manifest, (await client.GetManifestAsync(repository, "chunked", ct)).Content);
        Assert.Equal(layer.Size + image.ConfigBytes.Length, result.BytesUploaded);
    }

    [Fact]
    public async Task Content_that_does_not_match_its_descriptor_is_never_committed()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("corrupt");
        var image = TestImage.Create();
        var layer = image.Content.Layers[0];
        var tampered = image.Content with { Layers = [layer with { Open = () => new MemoryStream(image.LayerBytes[0].Select(b => (byte)(b ^ 0xff)).ToArray()) }] };
        foreach (var threshold in new long[] { RegistryClientOptions.DefaultChunkedUploadThreshold, 1 })
        {
            using var client = new RegistryClient(registry.Address, RegistryTestKit.Options() with { ChunkedUploadThreshold = threshold, ChunkSize = 100 });

            var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => ImagePusher.PushAsync(client, repository, tampered, ["1"], false, null, ct));

            Assert.Equal(RegistryErrors.LocalContentMismatch, error.Code);
            Assert.False(await client.BlobExistsAsync(repository, Digest.Parse(layer.Descriptor.Digest), ct));
            Assert.Null(await client.HeadManifestAsync(repository, "1", ct));
        }
    }

    private static List<string> Sorted(IEnumerable<Digest> digests) => digests.Select(d => d.Value).Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Every file of the repository in the registry's storage (tag links, layer links, upload
    /// sessions) with its size and modification time: if a push writes anything, this changes.
    /// </summary>
    private static List<string> StorageSnapshot(string repository)
    {
        var root = Path.Combine(TestEnvironment.InfraDir, "registry", "storage", "docker", "registry", "v2", "repositories", repository);
        Assert.True(Directory.Exists(root), $"registry storage for {repository} not found at {root}");
        return Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
            .Select(p => new FileInfo(p))
            .Select(f => $"{Path.GetRelativePath(root, f.FullName)} {(f.Exists ? f.Length : -1)} {f.LastWriteTimeUtc.Ticks}")
            .Order(StringComparer.Ordinal)
            .ToList();
    }
}
