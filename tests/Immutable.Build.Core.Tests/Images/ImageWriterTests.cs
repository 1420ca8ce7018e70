using System.Text.Json;
using Immutable.Build.Images;
using Immutable.Build.Registry;
using static Immutable.Build.Core.Tests.Images.ImageTestSupport;

namespace Immutable.Build.Core.Tests.Images;

public sealed class ImageWriterTests
{
    private static async Task<JsonElement> SkopeoInspectAsync(string transportReference, bool config = false)
    {
        var args = config ? new[] { "inspect", "--config", transportReference } : ["inspect", transportReference];
        var output = (await RunAsync("skopeo", args)).StandardOutput;
        using var doc = JsonDocument.Parse(output);
        return doc.RootElement.Clone();
    }

    [Fact]
    public async Task Oci_layout_is_readable_by_skopeo_under_each_tag()
    {
        RequireTool("skopeo");
        var layout = NewDir("write-oci");
        var image = await BuildAppAsync(new ScratchBase("linux-x64"), "write-oci-app");
        var result = await new OciLayoutWriter(layout).WriteAsync(image.Content, ["1.0.0", "3f2a1c9"], Ct);
        Assert.Equal(4, result.BlobsWritten); // config, two layers, manifest

        foreach (var tag in new[] { "1.0.0", "3f2a1c9" })
        {
            var inspect = await SkopeoInspectAsync($"oci:{layout}:{tag}");
            Assert.Equal(image.Digest.Value, inspect.GetProperty("Digest").GetString());
            Assert.Equal("amd64", inspect.GetProperty("Architecture").GetString());
            Assert.Equal("linux", inspect.GetProperty("Os").GetString());
            Assert.Equal(image.Manifest.Layers.Select(l => l.Digest), inspect.GetProperty("Layers").EnumerateArray().Select(e => e.GetString()));
            Assert.Contains("APP_GREETING=hello", inspect.GetProperty("Env").EnumerateArray().Select(e => e.GetString()));
        }

        var config = await SkopeoInspectAsync($"oci:{layout}:1.0.0", config: true);
        Assert.Equal(image.Config.RootFs.DiffIds, config.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(e => e.GetString()));

        // A copy makes skopeo read and verify every blob against its digest.
        await RunAsync("skopeo", "copy", "-q", $"oci:{layout}:1.0.0", $"oci:{NewDir("write-oci-copy")}:copy");

        var blobs = Directory.GetFiles(Path.Combine(layout, "blobs", "sha256"));
        Assert.All(blobs, b => Assert.Equal("sha256:" + Path.GetFileName(b), Digest.Of(File.ReadAllBytes(b)).Value));
        Assert.Equal("{\"imageLayoutVersion\":\"1.0.0\"}", File.ReadAllText(Path.Combine(layout, "oci-layout")));
    }

    [Fact]
    public async Task Writing_again_leaves_existing_blobs_alone_and_a_tag_moves_to_the_new_image()
    {
        var layout = NewDir("write-again");
        var writer = new OciLayoutWriter(layout);
        var v1 = await BuildAppAsync(new ScratchBase("linux-x64"), "write-v1", greeting: "v1");
        await writer.WriteAsync(v1.Content, ["latest", "v1"], Ct);
        var old = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        foreach (var blob in Directory.GetFiles(Path.Combine(layout, "blobs", "sha256")))
        {
            File.SetLastWriteTimeUtc(blob, old);
        }

        var again = await writer.WriteAsync(v1.Content, ["latest", "v1"], Ct);
        Assert.Equal((0, 4), (again.BlobsWritten, again.BlobsPresent));
        Assert.All(Directory.GetFiles(Path.Combine(layout, "blobs", "sha256")), b => Assert.Equal(old, File.GetLastWriteTimeUtc(b)));

        var v2 = await BuildAppAsync(new ScratchBase("linux-x64"), "write-v2", greeting: "v2 is longer");
        var second = await writer.WriteAsync(v2.Content, ["latest", "v2"], Ct);
        Assert.Equal(3, second.BlobsWritten); // the packages layer is shared with v1

        var index = ImageJson.ParseIndex(await File.ReadAllBytesAsync(Path.Combine(layout, "index.json"), Ct));
        var names = index.Manifests.ToDictionary(m => m.Annotations![OciLayoutBase.RefNameAnnotation], m => m.Digest);
        Assert.Equal(new Dictionary<string, string> { ["latest"] = v2.Digest.Value, ["v1"] = v1.Digest.Value, ["v2"] = v2.Digest.Value }, names);
        Assert.All(index.Manifests, m => Assert.Equal("amd64", m.Platform!.Architecture));
        Assert.Equal(v1.Digest, (await new OciLayoutBase(layout, "v1", "linux-x64").ResolveAsync(Ct)).ManifestDigest);
    }

    [Fact]
    public async Task Base_layers_from_a_registry_are_fetched_once_through_the_blob_cache()
    {
        var baseLayout = NewDir("write-lazy-base");
        await WriteMultiPlatformBaseAsync(baseLayout, "linux-x64", "linux-arm64");
        var fetcher = new LayoutFetcher(baseLayout);
        var image = await BuildAppAsync(new RegistryBase(fetcher, ImageReference.Parse("localhost:5000/base/multi:multi"), "linux-arm64"), "write-lazy");
        Assert.Equal(0, fetcher.BlobOpens);

        var cache = new BlobCache(NewDir("write-lazy-cache"));
        await new OciLayoutWriter(NewDir("write-lazy-1"), cache).WriteAsync(image.Content, ["a"], Ct);
        Assert.Equal(2, fetcher.BlobOpens);
        Assert.All(image.Content.Layers.Take(2), l => Assert.True(cache.Contains(l.Descriptor)));

        await new OciLayoutWriter(NewDir("write-lazy-2"), cache).WriteAsync(image.Content, ["a"], Ct);
        await new DockerArchiveWriter(cache).WriteAsync(image.Content, Path.Combine(NewDir("write-lazy-3"), "image.tar"), ["app:a"], Ct);
        Assert.Equal(2, fetcher.BlobOpens);

        await new OciLayoutWriter(NewDir("write-lazy-4")).WriteAsync(image.Content, ["a"], Ct);
        Assert.Equal(4, fetcher.BlobOpens);
    }

    [Fact]
    public async Task Docker_archive_is_readable_by_skopeo_and_lists_config_tags_and_layers()
    {
        RequireTool("skopeo");
        var baseLayout = NewDir("write-archive-base");
        await WriteMultiPlatformBaseAsync(baseLayout, "linux-x64");
        var image = await BuildAppAsync(new OciLayoutBase(baseLayout, "linux-x64", "linux-x64"), "write-archive", new ImageSettings
        {
            Created = CommitTime,
            Format = ManifestFormat.Docker,
            Cmd = ["/app/App"],
            Environment = [new("APP_GREETING", "archived")],
        });
        var archive = Path.Combine(NewDir("write-archive-out"), "image.tar");
        var result = await new DockerArchiveWriter().WriteAsync(image.Content, archive, ["localhost:5000/hello:3f2a1c9", "hello:latest"], Ct);
        Assert.Equal(new FileInfo(archive).Length, result.Length);

        var inspect = await SkopeoInspectAsync($"docker-archive:{archive}");
        Assert.Equal("amd64", inspect.GetProperty("Architecture").GetString());
        Assert.Equal(4, inspect.GetProperty("Layers").GetArrayLength());
        Assert.Contains("APP_GREETING=archived", inspect.GetProperty("Env").EnumerateArray().Select(e => e.GetString()));
        var config = await SkopeoInspectAsync($"docker-archive:{archive}", config: true);
        Assert.Equal(image.Config.RootFs.DiffIds, config.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(e => e.GetString()));
        // A copy decompresses every layer and checks it against the config's diff IDs.
        await RunAsync("skopeo", "copy", "-q", $"docker-archive:{archive}", $"oci:{NewDir("write-archive-copy")}:copy");

        var listed = (await RunAsync("tar", "-tf", archive)).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("manifest.json", listed);
        Assert.Contains(image.ConfigDigest.Hex + ".json", listed);
        Assert.Equal(3, listed.Count(l => l.EndsWith(".tar.gz", StringComparison.Ordinal))); // the base and the app share their packages layer
        var extracted = NewDir("write-archive-x");
        await RunAsync("tar", "-xf", archive, "-C", extracted);
        using var manifest = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(extracted, "manifest.json"), Ct));
        var entry = Assert.Single(manifest.RootElement.EnumerateArray());
        Assert.Equal(image.ConfigDigest.Hex + ".json", entry.GetProperty("Config").GetString());
        Assert.Equal(["localhost:5000/hello:3f2a1c9", "hello:latest"], entry.GetProperty("RepoTags").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(image.Manifest.Layers.Select(l => Digest.Parse(l.Digest).Hex + ".tar.gz"), entry.GetProperty("Layers").EnumerateArray().Select(e => e.GetString()));

        var again = Path.Combine(NewDir("write-archive-again"), "image.tar");
        await new DockerArchiveWriter().WriteAsync(image.Content, again, ["localhost:5000/hello:3f2a1c9", "hello:latest"], Ct);
        Assert.Equal(await File.ReadAllBytesAsync(archive, Ct), await File.ReadAllBytesAsync(again, Ct));
    }

    [Fact]
    public async Task Archive_tags_must_be_references_with_a_tag()
    {
        var image = await BuildAppAsync(new ScratchBase("linux-x64"), "write-bad-tag");
        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => new DockerArchiveWriter().WriteAsync(image.Content, Path.Combine(NewDir("bad-tag"), "x.tar"), ["Hello:UPPER case"], Ct));
        Assert.Equal("IMB3013", error.Code);
        var noTag = await Assert.ThrowsAsync<ImmutableBuildException>(() => new DockerArchiveWriter().WriteAsync(image.Content, Path.Combine(NewDir("bad-tag"), "x.tar"), ["hello"], Ct));
        Assert.Equal("IMB3013", noTag.Code);
        var layoutTag = await Assert.ThrowsAsync<ImmutableBuildException>(() => new OciLayoutWriter(NewDir("bad-layout-tag")).WriteAsync(image.Content, ["no/slash"], Ct));
        Assert.Equal("IMB3013", layoutTag.Code);
    }

    [Fact]
    public async Task A_blob_whose_bytes_do_not_match_its_digest_fails_the_write()
    {
        var image = await BuildAppAsync(new ScratchBase("linux-x64"), "write-corrupt");
        var good = image.Content.Layers[0];
        var corrupt = image.Content with
        {
            Layers = [good with { Open = () => new MemoryStream(new byte[good.Descriptor.Size]) }, image.Content.Layers[1]],
        };
        var layout = NewDir("write-corrupt-out");
        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => new OciLayoutWriter(layout).WriteAsync(corrupt, ["x"], Ct));
        Assert.Equal("IMB3011", error.Code);
        Assert.False(File.Exists(Path.Combine(layout, "blobs", "sha256", Digest.Parse(good.Descriptor.Digest).Hex)));
        Assert.False(File.Exists(Path.Combine(layout, "index.json")));

        var archiveError = await Assert.ThrowsAsync<ImmutableBuildException>(() => new DockerArchiveWriter().WriteAsync(corrupt, Path.Combine(layout, "x.tar"), [], Ct));
        Assert.Equal("IMB3011", archiveError.Code);
        Assert.False(File.Exists(Path.Combine(layout, "x.tar")));

        var missing = image.Content with { Layers = [new BlobContent(good.Descriptor, null, "somewhere/else")] };
        var unavailable = await Assert.ThrowsAsync<ImmutableBuildException>(() => new OciLayoutWriter(NewDir("write-missing")).WriteAsync(missing, [], Ct));
        Assert.Equal("IMB3014", unavailable.Code);
    }
}
