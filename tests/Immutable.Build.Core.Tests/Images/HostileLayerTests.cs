using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Immutable.Build.Images;

namespace Immutable.Build.Core.Tests.Images;

/// <summary>
/// Hostile base-image layers, one row each, written here with System.Formats.Tar and unpacked through the public
/// <see cref="ImageUnpacker"/> from a real OCI layout. Every row checks that nothing outside the unpack folder changed
/// and that a failed unpack leaves neither the folder nor its temporary sibling; a refused row also checks its IMB code.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileLayerTests
{
    private const long SmallLimit = 1 << 20;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A layer: its blob and media type, built from the sandbox (whose outside folder a row may aim at).</summary>
    private delegate (byte[] Blob, string MediaType) Layer(Sandbox sandbox);

    /// <summary>What a row proves, its layers, the code it must fail with (null: it unpacks), a check of the result, the unpack limit.</summary>
    private sealed record Case(string Proves, Layer[] Layers, string? Code, Action<Sandbox>? Check = null, long Limit = ImageUnpacker.DefaultMaxUnpackedBytes);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["dotdot-deep"] = new("'..' that climbs above the root from a nested folder is refused", [Tar(File("a/b/../../../escape.txt", "x"))], "IMB7006"),
        ["backslash-dotdot"] = new("a backslash path ('..\\x', a Windows escape) is refused", [Tar(File("..\\escape.txt", "x"))], "IMB7006"),
        ["hardlink-absolute"] = new("a hard link to an absolute path is refused, not copied from the host", [Tar(HardLink("app/passwd", "/etc/passwd"))], "IMB7006"),
        ["hardlink-dotdot"] = new("a hard link that climbs out with '..' is refused", [Tar(HardLink("app/victim", "../outside/victim.txt"))], "IMB7006"),
        ["hardlink-to-symlink"] = new("a hard link to a symbolic link that points outside is refused", [s => Tar(Symlink("app/s", s.Victim), HardLink("app/h", "app/s"))(s)], "IMB7006"),
        ["hardlink-through-symlinked-dir"] = new("a hard link whose source path goes through a symbolic link to outside is refused", [s => Tar(Symlink("d", s.Outside), HardLink("app/h", "d/victim.txt"))(s)], "IMB7006"),
        ["hardlink-missing"] = new("a hard link to a file the image does not have is refused", [Tar(HardLink("app/h", "app/not-there"))], "IMB7006"),
        ["symlink-relative-then-write"] = new("a file written through a relative symbolic link to outside, in the same layer, is refused", [Tar(Symlink("app", "../outside"), File("app/planted.txt", "x"))], "IMB7006"),
        ["symlink-then-directory"] = new("a folder created through a symbolic link to outside is refused", [s => Tar(Symlink("app", s.Outside), Directory("app/sub/"))(s)], "IMB7006"),
        ["whiteout-through-symlink"] = new("a whiteout through a symbolic link to outside is refused and deletes nothing there", [s => Tar(Symlink("app", s.Outside))(s), Tar(File("app/.wh.victim.txt", ""))], "IMB7006"),
        ["whiteout-no-name"] = new("a whiteout of '..' (an attempt to remove the parent) is refused", [Tar(File("app/x", "x")), Tar(File("app/.wh..", ""))], "IMB7006"),
        ["whiteout-of-root"] = new(
            "an opaque whiteout of / empties the image's root but follows none of its links: the outside file stays",
            [s => Tar(File("etc/lower.txt", "x"), Symlink("out", s.Outside))(s), Tar(File("./.wh..wh..opq", ""), File("upper.txt", "u"))],
            null,
            s =>
            {
                Assert.Equal(["upper.txt"], System.IO.Directory.EnumerateFileSystemEntries(s.Root).Select(Path.GetFileName));
                Assert.Equal("victim", System.IO.File.ReadAllText(s.Victim));
            }),
        ["whiteout-of-symlink"] = new(
            "a whiteout of a symbolic link removes the link, not what it points at",
            [s => Tar(Symlink("lnk", s.Victim))(s), Tar(File(".wh.lnk", ""))],
            null,
            s =>
            {
                Assert.False(new FileInfo(Path.Combine(s.Root, "lnk")).Exists || new FileInfo(Path.Combine(s.Root, "lnk")).LinkTarget is not null);
                Assert.Equal("victim", System.IO.File.ReadAllText(s.Victim));
            }),
        ["file-replaces-symlink"] = new(
            "a file over a symbolic link to outside replaces the link instead of writing through it",
            [s => Tar(Symlink("app/f", s.Victim))(s), Tar(File("app/f", "new"))],
            null,
            s =>
            {
                var f = Path.Combine(s.Root, "app", "f");
                Assert.Null(new FileInfo(f).LinkTarget);
                Assert.Equal("new", System.IO.File.ReadAllText(f));
            }),
        ["device-files"] = new(
            "character and block devices and FIFOs are left out (an app folder needs no device node)",
            [Tar(Device(TarEntryType.CharacterDevice, "dev/null"), Device(TarEntryType.BlockDevice, "dev/sda"), Device(TarEntryType.Fifo, "dev/pipe"), File("app/a.txt", "a"))],
            null,
            s =>
            {
                Assert.True(System.IO.File.Exists(Path.Combine(s.Root, "app", "a.txt")));
                Assert.False(Path.Exists(Path.Combine(s.Root, "dev", "null")));
                Assert.False(Path.Exists(Path.Combine(s.Root, "dev", "sda")));
                Assert.False(Path.Exists(Path.Combine(s.Root, "dev", "pipe")));
            }),
        ["setuid"] = new(
            "setuid, setgid and sticky bits are dropped: the layer's rwx bits are kept, nothing more",
            [Tar(File("app/tool", "#!/bin/sh\n", (UnixFileMode)0xDED))],
            null,
            s => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute, System.IO.File.GetUnixFileMode(Path.Combine(s.Root, "app", "tool")))),
        ["tar-bomb"] = new("one entry larger than the unpack limit stops at the limit (IMB3030)", [Tar(Zeros("app/big.bin", 2 * SmallLimit))], "IMB3030", Limit: SmallLimit),
        ["tar-bomb-across-layers"] = new("the limit holds for all layers together, not per layer", [Tar(Zeros("app/a.bin", SmallLimit * 6 / 10)), Tar(Zeros("app/b.bin", SmallLimit * 6 / 10))], "IMB3030", Limit: SmallLimit),
        ["gzip-bomb"] = new("a small gzip that inflates to megabytes of zeros after the tar's end is stopped at the limit, not read to its end", [GzipBomb(8 * SmallLimit)], "IMB3030", Limit: SmallLimit),
        ["name-too-long"] = new("a name the file system refuses (a 300-character segment) is an IMB error, not an I/O exception", [Tar(File("app/" + new string('n', 300), "x"))], "IMB3031"),
        ["truncated-gzip"] = new("a gzip layer cut short (its digest matches what is there) is an IMB error", [Truncated(Tar(Zeros("app/a.bin", 64 << 10), File("app/b.txt", "b")))], "IMB3011"),
        ["not-a-tar"] = new("an uncompressed layer that is not a tar is an IMB error", [_ => (RandomNumberGenerator.GetBytes(4096), MediaTypes.OciLayer)], "IMB3011"),
    };

    public static TheoryData<string> Names => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public async Task A_hostile_layer_is_refused_or_contained(string name)
    {
        var row = Cases[name];
        var sandbox = Sandbox.Create();
        var layout = sandbox.WriteLayout(row.Layers.Select(l => l(sandbox)).ToList());
        var before = sandbox.SnapshotOutsideRoot();

        var unpacker = new ImageUnpacker { MaxUnpackedBytes = row.Limit };
        var failure = await Record.ExceptionAsync(() => unpacker.UnpackAsync($"oci:{layout.Folder}", layout.Digest, sandbox.Root, Ct));

        Assert.Equal(before, sandbox.SnapshotOutsideRoot());
        Assert.Empty(System.IO.Directory.EnumerateDirectories(sandbox.Work, ".tmp-*"));
        if (row.Code is null)
        {
            Assert.Null(failure);
            row.Check?.Invoke(sandbox);
            return;
        }

        var e = Assert.IsType<ImmutableBuildException>(failure);
        Assert.Equal(row.Code, e.Code);
        Assert.False(System.IO.Directory.Exists(sandbox.Root), "nothing appears when unpacking fails");
        // The message names the fix, and carries no stack trace.
        Assert.Matches("(rebuild it|rebuild the image|Delete the cached)", e.Message);
        Assert.DoesNotContain("   at ", e.Message, StringComparison.Ordinal);
    }

    private static Layer Tar(params Action<TarWriter, Sandbox>[] entries) => s =>
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var entry in entries)
            {
                entry(writer, s);
            }
        }

        return (Gzip(tar.ToArray()), MediaTypes.OciLayerGzip);
    };

    private static Action<TarWriter, Sandbox> File(string name, string content, UnixFileMode mode = (UnixFileMode)0x1A4) => (w, _) =>
        w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = mode, DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) });

    private static Action<TarWriter, Sandbox> Directory(string name) => (w, _) =>
        w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, name) { Mode = (UnixFileMode)0x1ED });

    private static Action<TarWriter, Sandbox> Symlink(string name, string target) => (w, _) =>
        w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target });

    private static Action<TarWriter, Sandbox> HardLink(string name, string target) => (w, _) =>
        w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, name) { LinkName = target });

    private static Action<TarWriter, Sandbox> Device(TarEntryType type, string name) => (w, _) =>
    {
        var entry = new PaxTarEntry(type, name) { Mode = (UnixFileMode)0x1B6 };
        if (type != TarEntryType.Fifo)
        {
            entry.DeviceMajor = 1;
            entry.DeviceMinor = 3;
        }

        w.WriteEntry(entry);
    };

    private static Action<TarWriter, Sandbox> Zeros(string name, long size) => (w, _) =>
        w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1A4, DataStream = new MemoryStream(new byte[size]) });

    private static Layer GzipBomb(long zeros) => _ =>
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "app/tiny.txt") { DataStream = new MemoryStream("t"u8.ToArray()) });
        }

        // Zero blocks read as the end of the tar; the rest is what an extractor that reads to the end would inflate.
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(tar.ToArray());
            var block = new byte[1 << 16];
            for (long written = 0; written < zeros; written += block.Length)
            {
                gzip.Write(block);
            }
        }

        return (output.ToArray(), MediaTypes.OciLayerGzip);
    };

    private static Layer Truncated(Layer layer) => s =>
    {
        var (blob, mediaType) = layer(s);
        return (blob[..(blob.Length / 2)], mediaType);
    };

    private static byte[] Gzip(byte[] tar)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(tar);
        }

        return output.ToArray();
    }

    /// <summary>A work folder with the layout, the unpack target (Root) and an outside folder holding a victim file.</summary>
    private sealed class Sandbox
    {
        private Sandbox(string work) => Work = work;

        public string Work { get; }

        public string Root => Path.Combine(Work, "rootfs");

        public string Outside => Path.Combine(Work, "outside");

        public string Victim => Path.Combine(Outside, "victim.txt");

        public static Sandbox Create()
        {
            var sandbox = new Sandbox(TestEnvironment.NewWorkDir("hostile-layer"));
            System.IO.Directory.CreateDirectory(sandbox.Outside);
            System.IO.File.WriteAllText(sandbox.Victim, "victim");
            return sandbox;
        }

        public (string Folder, Digest Digest) WriteLayout(IReadOnlyList<(byte[] Blob, string MediaType)> layers)
        {
            var folder = Path.Combine(Work, "layout");
            var blobs = Path.Combine(folder, "blobs", "sha256");
            System.IO.Directory.CreateDirectory(blobs);
            System.IO.File.WriteAllText(Path.Combine(folder, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
            var descriptors = layers.Select(l => Blob(blobs, l.Blob, l.MediaType)).ToList();
            var config = ImageJson.Serialize(new ImageConfig
            {
                Architecture = ImageUnpacker.CurrentPlatform().Architecture,
                Os = "linux",
                Config = new ContainerConfig { Entrypoint = ["/app/tool"] },
                RootFs = new RootFs { DiffIds = descriptors.Select(d => d.Digest).ToList() },
            });
            var manifest = Blob(blobs, ImageJson.Serialize(new ImageManifest { MediaType = MediaTypes.OciManifest, Config = Blob(blobs, config, MediaTypes.OciConfig), Layers = descriptors }), MediaTypes.OciManifest);
            System.IO.File.WriteAllBytes(Path.Combine(folder, "index.json"), ImageJson.Serialize(new ImageIndex { MediaType = MediaTypes.OciIndex, Manifests = [manifest] }));
            return (folder, Digest.Parse(manifest.Digest));
        }

        /// <summary>Every file, folder and link of the work folder but the unpack target: path, kind, size, content hash, link target.</summary>
        public IReadOnlyList<string> SnapshotOutsideRoot() =>
            new DirectoryInfo(Work).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
                .Where(i => !i.FullName.StartsWith(Root, StringComparison.Ordinal) && !i.Name.StartsWith(".tmp-", StringComparison.Ordinal) && !i.FullName.Contains("/.tmp-", StringComparison.Ordinal))
                .Select(i => i switch
                {
                    { LinkTarget: { } link } => $"{i.FullName} -> {link}",
                    FileInfo f => $"{f.FullName} {f.Length} {Convert.ToHexString(SHA256.HashData(System.IO.File.ReadAllBytes(f.FullName)))}",
                    _ => $"{i.FullName}/",
                })
                .Order(StringComparer.Ordinal)
                .ToList();

        private static Descriptor Blob(string blobs, byte[] content, string mediaType)
        {
            var digest = Digest.Of(content);
            System.IO.File.WriteAllBytes(Path.Combine(blobs, digest.Hex), content);
            return new Descriptor(mediaType, digest.Value, content.Length);
        }
    }
}
