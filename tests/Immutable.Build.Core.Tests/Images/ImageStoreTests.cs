using System.Formats.Tar;
using Immutable.Build.Core.Tests.Local;
using Immutable.Build.Images;

namespace Immutable.Build.Core.Tests.Images;

/// <summary>The state directory's image store: copies by digest, dedupes, verifies, and prunes only what no holder keeps.</summary>
public sealed class ImageStoreTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly string _work = TestEnvironment.NewWorkDir("image-store");

    private ImageStore Store => ImageStore.In(Path.Combine(_work, "state"));

    [Fact(Timeout = 60_000)]
    public async Task A_kept_image_is_a_layout_the_unpacker_reads_after_its_source_is_deleted()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var (folder, digest) = Image("a", "hello");

        using (var lease = await KeepAsync(folder, digest, "app.test"))
        {
            Assert.Equal(3, lease.BlobsWritten);
        }

        Directory.Delete(folder, recursive: true);
        Assert.True(File.Exists(Path.Combine(Store.Directory, "oci-layout")));
        Assert.Contains(digest.Value, File.ReadAllText(Path.Combine(Store.Directory, "index.json")), StringComparison.Ordinal);
        Assert.Equal([digest.Value], Store.HeldBy("app.test"));
        var unpacked = await new ImageUnpacker().UnpackAsync(Store.Source, digest, Path.Combine(_work, "unpacked"), Ct);
        Assert.Equal("hello", File.ReadAllText(Path.Combine(unpacked.Directory, "a.txt")));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(Store.Directory, "blobs", "sha256"), "*.tmp"));
    }

    [Fact(Timeout = 60_000)]
    public async Task Keeping_an_image_again_copies_nothing_and_lists_it_once_held_by_both()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var (folder, digest) = Image("a", "hello");
        (await KeepAsync(folder, digest, "one")).Dispose();

        using var again = await KeepAsync(folder, digest, "two");

        Assert.Equal(0, again.BlobsWritten);
        Assert.Equal(3, Directory.EnumerateFiles(Path.Combine(Store.Directory, "blobs", "sha256")).Count());
        Assert.Equal([digest.Value], Store.HeldBy("one"));
        Assert.Equal([digest.Value], Store.HeldBy("two"));
        Assert.Single(ImageJson.ParseIndex(File.ReadAllBytes(Path.Combine(Store.Directory, "index.json"))).Manifests);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_damaged_stored_blob_is_copied_again_from_the_source_and_without_one_is_IMB3091()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var (folder, digest) = Image("a", "hello");
        (await KeepAsync(folder, digest, "one")).Dispose();
        var layer = LayerPath(digest);
        var size = new FileInfo(layer).Length;
        File.WriteAllBytes(layer, new byte[size]);

        using (var repaired = await KeepAsync(folder, digest, "one"))
        {
            Assert.Equal(1, repaired.BlobsWritten);
        }

        Assert.Equal(File.ReadAllBytes(Path.Combine(folder, "blobs", "sha256", Path.GetFileName(layer))), File.ReadAllBytes(layer));

        File.WriteAllBytes(layer, new byte[size]);
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => Store.KeepAsync(digest, null, "one", Ct));
        Assert.Equal("IMB3091", e.Code);
        Assert.Contains(layer, e.Message, StringComparison.Ordinal);

        var missing = await Assert.ThrowsAsync<ImmutableBuildException>(() => Store.KeepAsync(Image("c", "other").Digest, null, "one", Ct));
        Assert.Equal("IMB3093", missing.Code);
        Assert.Contains("ImmutableRetain", missing.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_source_blob_that_does_not_match_its_digest_is_IMB3011_and_nothing_half_written_stays()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var (folder, digest) = Image("a", "hello");
        var layer = Path.Combine(folder, "blobs", "sha256", Path.GetFileName(LayerPath(digest, folder)));
        File.WriteAllBytes(layer, new byte[new FileInfo(layer).Length]);

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => KeepAsync(folder, digest, "one"));

        Assert.Equal("IMB3011", e.Code);
        Assert.False(Store.Contains(digest), "no manifest without its blobs");
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(Store.Directory, "blobs", "sha256"), "*.tmp"));
        Assert.Empty(Store.HeldBy("one"));
    }

    [Fact(Timeout = 60_000)]
    public async Task Prune_removes_only_what_no_holder_keeps_and_no_live_lease_holds()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var (a, digestA) = Image("a", "A");
        var (b, digestB) = Image("b", "B");
        var (c, digestC) = Image("c", "C");
        (await KeepAsync(a, digestA, "one")).Dispose();
        (await KeepAsync(b, digestB, "two")).Dispose();
        using var inFlight = await KeepAsync(c, digestC, "one");

        // "one" keeps nothing any more; B is still held by "two", C by the lease of a rollout that runs.
        var removed = await Store.PruneAsync("one", [], Ct);

        Assert.Equal([digestA.Value], removed);
        Assert.False(Store.Contains(digestA));
        Assert.False(File.Exists(Path.Combine(Store.Directory, "blobs", "sha256", Path.GetFileName(LayerPath(digestA, a)))), "A's layer goes with it");
        Assert.True(Store.Contains(digestB));
        Assert.True(Store.Contains(digestC));
        Assert.DoesNotContain(digestA.Value, File.ReadAllText(Path.Combine(Store.Directory, "index.json")), StringComparison.Ordinal);
        await new ImageUnpacker().UnpackAsync(Store.Source, digestB, Path.Combine(_work, "b-unpacked"), Ct);

        inFlight.Dispose();
        Assert.Equal([digestC.Value], await Store.PruneAsync("one", [], Ct));
        // Only B is left: its manifest, config and layer.
        Assert.Equal(3, Directory.EnumerateFiles(Path.Combine(Store.Directory, "blobs", "sha256")).Count());
        Assert.True(File.Exists(LayerPath(digestB)));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_damaged_index_is_IMB3091_naming_it()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var (folder, digest) = Image("a", "hello");
        (await KeepAsync(folder, digest, "one")).Dispose();
        File.WriteAllText(Path.Combine(Store.Directory, "index.json"), "{ not json");

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => Store.PruneAsync("one", [], Ct));

        Assert.Equal("IMB3091", e.Code);
        Assert.Contains(Path.Combine(Store.Directory, "index.json"), e.Message, StringComparison.Ordinal);
    }

    private async Task<ImageStoreLease> KeepAsync(string folder, Digest digest, string holder)
    {
        using var source = OciLayoutSource.Open("oci:" + folder, folder);
        return await Store.KeepAsync(digest, source, holder, Ct);
    }

    private (string Folder, Digest Digest) Image(string name, string content, string? extra = null)
    {
        var first = new List<HandmadeLayout.Entry> { new($"{name}.txt", TarEntryType.RegularFile, content) };
        return extra is null
            ? HandmadeLayout.Write(Path.Combine(_work, "layouts", name + content), first)
            : HandmadeLayout.Write(Path.Combine(_work, "layouts", name + content + extra), first, [new($"{extra}.txt", TarEntryType.RegularFile, extra)]);
    }

    // The first layer's blob in the store (or in <paramref name="layout"/>).
    private string LayerPath(Digest digest, string? layout = null)
    {
        var root = layout ?? Store.Directory;
        var manifest = ImageJson.ParseManifest(File.ReadAllBytes(Path.Combine(root, "blobs", "sha256", digest.Hex)));
        return Path.Combine(root, "blobs", "sha256", Digest.Parse(manifest.Layers[0].Digest).Hex);
    }
}
