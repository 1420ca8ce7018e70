using Immutable.Build.Targets.Local;
using System.Formats.Tar;
using Immutable.Build.Images;
using static Immutable.Build.Core.Tests.Local.HandmadeLayout;

namespace Immutable.Build.Core.Tests.Local;

[Collection(LocalTargetCollection.Name)]
public sealed class ImageUnpackerTests(SampleReleaseFixture sample)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Unpacks_the_published_release_by_digest_with_its_config()
    {
        var target = Path.Combine(TestEnvironment.NewWorkDir("unpack"), "rootfs");

        var unpacked = await new ImageUnpacker().UnpackAsync($"oci:{sample.LayoutDirectory}", sample.Digest, target, Ct);

        Assert.Equal(target, unpacked.Directory);
        Assert.True(File.Exists(Path.Combine(target, "app", "HelloImmutable.dll")));
        Assert.True(File.Exists(Path.Combine(target, "app", "HelloImmutable.Telemetry.dll")), "the project-references layer is applied");
        Assert.True(File.Exists(Path.Combine(target, "app", "Humanizer.dll")), "the packages layer is applied");
        Assert.Equal(["dotnet", "/app/HelloImmutable.dll"], unpacked.Config.Config!.Entrypoint!);
        Assert.Equal("/app/", unpacked.Config.Config.WorkingDir);
        Assert.Empty(Directory.EnumerateDirectories(Path.GetDirectoryName(target)!, ".tmp-*"));
    }

    [Fact]
    public async Task Reads_the_image_by_digest_not_by_tag()
    {
        var unknown = Digest.Of("not an image"u8);

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => new ImageUnpacker().ReadConfigAsync($"oci:{sample.LayoutDirectory}", unknown, Ct));

        Assert.Equal("IMB7005", e.Code);
        Assert.Contains(unknown.Value, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Applies_layers_in_order_with_whiteouts()
    {
        var work = TestEnvironment.NewWorkDir("unpack");
        var (layout, digest) = Write(
            Path.Combine(work, "layout"),
            [new("app/", TarEntryType.Directory), new("app/keep.txt", TarEntryType.RegularFile, "lower"), new("app/gone.txt", TarEntryType.RegularFile, "x"), new("data/old.txt", TarEntryType.RegularFile, "x")],
            [new("app/keep.txt", TarEntryType.RegularFile, "upper"), new("app/.wh.gone.txt", TarEntryType.RegularFile, ""), new("data/new.txt", TarEntryType.RegularFile, "y"), new("data/.wh..wh..opq", TarEntryType.RegularFile, ""), new("app/link", TarEntryType.SymbolicLink, LinkName: "keep.txt")]);

        var target = Path.Combine(work, "rootfs");
        await new ImageUnpacker().UnpackAsync($"oci:{layout}", digest, target, Ct);

        Assert.Equal("upper", await File.ReadAllTextAsync(Path.Combine(target, "app", "keep.txt"), Ct));
        Assert.False(File.Exists(Path.Combine(target, "app", "gone.txt")));
        Assert.False(File.Exists(Path.Combine(target, "app", ".wh.gone.txt")));
        Assert.False(File.Exists(Path.Combine(target, "data", "old.txt")), "an opaque whiteout hides the lower layer's files");
        Assert.True(File.Exists(Path.Combine(target, "data", "new.txt")), "but not the ones of its own layer");
        Assert.Equal("keep.txt", new FileInfo(Path.Combine(target, "app", "link")).LinkTarget);
    }

    [Theory]
    [InlineData("../escape.txt")]
    [InlineData("/etc/absolute.txt")]
    [InlineData("app/../../escape.txt")]
    public async Task Refuses_entries_outside_the_image(string name)
    {
        var work = TestEnvironment.NewWorkDir("unpack");
        var (layout, digest) = Write(Path.Combine(work, "layout"), [new Entry(name, TarEntryType.RegularFile, "x")]);
        var target = Path.Combine(work, "rootfs");

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => new ImageUnpacker().UnpackAsync($"oci:{layout}", digest, target, Ct));

        Assert.Equal("IMB7006", e.Code);
        Assert.False(Directory.Exists(target), "nothing appears when unpacking fails");
        Assert.False(File.Exists(Path.Combine(work, "escape.txt")));
        Assert.Empty(Directory.EnumerateDirectories(work, ".tmp-*"));
    }

    [Fact]
    public async Task Refuses_to_write_through_a_symbolic_link()
    {
        var work = TestEnvironment.NewWorkDir("unpack");
        var outside = Directory.CreateDirectory(Path.Combine(work, "outside")).FullName;
        var (layout, digest) = Write(
            Path.Combine(work, "layout"),
            [new("app", TarEntryType.SymbolicLink, LinkName: outside)],
            [new("app/planted.txt", TarEntryType.RegularFile, "x")]);

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => new ImageUnpacker().UnpackAsync($"oci:{layout}", digest, Path.Combine(work, "rootfs"), Ct));

        Assert.Equal("IMB7006", e.Code);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
    }

    [Fact]
    public async Task Verifies_every_blob_against_its_digest()
    {
        var work = TestEnvironment.NewWorkDir("unpack");
        var (layout, digest) = Write(Path.Combine(work, "layout"), [new Entry("app/a.txt", TarEntryType.RegularFile, new string('a', 5000))]);
        var manifest = ImageJson.ParseManifest(await File.ReadAllBytesAsync(Path.Combine(layout, "blobs", "sha256", digest.Hex), Ct));
        var layerPath = Path.Combine(layout, "blobs", "sha256", Digest.Parse(manifest.Layers[0].Digest).Hex);
        var bytes = await File.ReadAllBytesAsync(layerPath, Ct);
        bytes[^5] ^= 0xFF; // the gzip trailer: the tar still reads, the digest does not match
        await File.WriteAllBytesAsync(layerPath, bytes, Ct);
        var target = Path.Combine(work, "rootfs");

        var e = await Assert.ThrowsAnyAsync<Exception>(() => new ImageUnpacker().UnpackAsync($"oci:{layout}", digest, target, Ct));

        Assert.Equal("IMB3011", Assert.IsType<ImmutableBuildException>(e).Code);
        Assert.False(Directory.Exists(target));
    }
}
