using System.Formats.Tar;
using System.IO.Compression;
using System.Net.Http;
using FormatsTarEntry = System.Formats.Tar.TarEntry;

namespace Immutable.Build.Images;

/// <summary>
/// Applies one layer's tar to a root folder without letting it escape: no absolute paths or '..', no
/// writing through a symbolic link, hard links only to regular files already inside; whiteouts remove
/// what lower layers put there. Anything unsafe is IMB7006.
/// </summary>
internal static class LayerExtractor
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueWhiteout = ".wh..wh..opq";

    /// <summary>
    /// Whether a layer of this media type is gzip-compressed; throws IMB7007 for what cannot be unpacked
    /// (zstd, encrypted, foreign).
    /// </summary>
    public static bool IsCompressed(Descriptor layer) => layer.MediaType switch
    {
        MediaTypes.OciLayerGzip or MediaTypes.DockerLayerGzip or "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => true,
        MediaTypes.OciLayer or MediaTypes.DockerLayer or "application/vnd.oci.image.layer.nondistributable.v1.tar" => false,
        _ => throw ImageErrors.UnsupportedLayer(layer.Digest, layer.MediaType),
    };

    /// <summary>
    /// Extracts the layer <paramref name="blob"/> into <paramref name="root"/>, reading the blob to its end so that its
    /// digest is checked. <paramref name="ownerOnly"/>: folders 0700 and files without group and other bits (their own
    /// executable bits kept), for a release unpacked into the state directory. <paramref name="budget"/>: the bytes
    /// the layer's tar may still have, counted after decompression (IMB3030 past it); returns the bytes it had.
    /// </summary>
    public static async Task<long> ExtractAsync(Stream blob, bool compressed, Descriptor layer, string root, long budget, CancellationToken ct, bool ownerOnly = false)
    {
        long used;
        await using (var gzip = compressed ? new GZipStream(blob, CompressionMode.Decompress, leaveOpen: true) : null)
        {
            // Counted after decompression: a small gzip of zeros or a tar header claiming terabytes is stopped at the budget.
            var tar = new BudgetStream(gzip ?? blob, budget, layer.Digest);
            var writtenHere = new HashSet<string>(StringComparer.Ordinal);
            using (var reader = new TarReader(tar, leaveOpen: true))
            {
                while (await reader.GetNextEntryAsync(copyData: false, ct) is { } entry)
                {
                    try
                    {
                        await ApplyEntryAsync(layer.Digest, entry, root, writtenHere, ownerOnly, ct);
                    }
                    catch (Exception e) when (e is UnauthorizedAccessException or IOException and not EndOfStreamException and not HttpIOException && !DiskFull.Is(e))
                    {
                        // The file system's refusal of this entry (a name too long, a permission), not the blob's: the
                        // blob's own failures pass, and a full disk passes to the unpacker, which says so (IMB0020).
                        throw ImageErrors.EntryUnwritable(layer.Digest, entry.Name, e);
                    }
                }
            }

            // The tar ends before its stream does (padding blocks); reading to the end is what makes the digest check run.
            await tar.CopyToAsync(Stream.Null, ct);
            used = tar.BytesRead;
        }

        await blob.CopyToAsync(Stream.Null, ct);
        return used;
    }

    private static async Task ApplyEntryAsync(string layer, FormatsTarEntry entry, string root, HashSet<string> writtenHere, bool ownerOnly, CancellationToken ct)
    {
        var relative = Normalise(layer, entry.Name);
        if (relative.Length == 0)
        {
            return;
        }

        var name = Path.GetFileName(relative);
        var parentRelative = Path.GetDirectoryName(relative) ?? "";
        var parent = EnsureDirectory(layer, root, parentRelative, entry.Name, ownerOnly);
        if (name == OpaqueWhiteout)
        {
            // Opaque: what lower layers put in this folder is gone; what this layer wrote stays.
            foreach (var child in new DirectoryInfo(parent).EnumerateFileSystemInfos())
            {
                var childRelative = Path.Combine(parentRelative, child.Name);
                if (!writtenHere.Contains(childRelative))
                {
                    Remove(child.FullName);
                }
            }

            return;
        }

        if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
        {
            var hidden = name[WhiteoutPrefix.Length..];
            if (hidden is "" or "." or "..")
            {
                throw ImageErrors.UnsafeLayer(layer, entry.Name, "a whiteout without a name");
            }

            Remove(Path.Combine(parent, hidden));
            return;
        }

        var path = Path.Combine(parent, name);
        writtenHere.Add(relative);
        var mode = (UnixFileMode)((int)entry.Mode & 0x1FF);
        if (ownerOnly)
        {
            mode &= ~PrivateFiles.GroupAndOther;
        }

        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
                if (!IsRealDirectory(path))
                {
                    Remove(path);
                    CreateDirectory(path, ownerOnly);
                }

                // The owner keeps rwx so that later layers can write into it and the folder can be deleted.
                SetMode(path, mode | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                break;

            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                Remove(path);
                await using (var output = ownerOnly
                    ? PrivateFiles.Open(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous)
                    : new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
                {
                    if (entry.DataStream is { } data)
                    {
                        await data.CopyToAsync(output, ct);
                    }
                }

                SetMode(path, mode | UnixFileMode.UserRead | UnixFileMode.UserWrite);
                File.SetLastWriteTimeUtc(path, entry.ModificationTime.UtcDateTime);
                break;

            case TarEntryType.SymbolicLink:
                Remove(path);
                // Creating a link is harmless; following one while extracting is what EnsureDirectory refuses.
                File.CreateSymbolicLink(path, entry.LinkName);
                break;

            case TarEntryType.HardLink:
                var linked = Normalise(layer, entry.LinkName);
                var linkedParent = EnsureDirectory(layer, root, Path.GetDirectoryName(linked) ?? "", entry.LinkName, ownerOnly, create: false);
                var source = Path.Combine(linkedParent, Path.GetFileName(linked));
                if (linked.Length == 0 || !File.Exists(source) || new FileInfo(source).LinkTarget is not null)
                {
                    throw ImageErrors.UnsafeLayer(layer, entry.Name, $"a hard link to '{entry.LinkName}', which is not a regular file of the image");
                }

                Remove(path);
                File.Copy(source, path);
                break;

            default:
                // Devices and FIFOs need privileges an app folder never does; they are left out.
                break;
        }
    }

    /// <summary>A relative path with no '.', '..' or empty segments; throws IMB7006 for absolute paths and '..'.</summary>
    private static string Normalise(string layer, string name)
    {
        if (name.Contains('\0', StringComparison.Ordinal) || name.StartsWith('/') || name.Contains('\\', StringComparison.Ordinal))
        {
            throw ImageErrors.UnsafeLayer(layer, name, "an absolute path or a path with NUL or backslash");
        }

        var segments = new List<string>();
        foreach (var segment in name.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (segment == "..")
            {
                throw ImageErrors.UnsafeLayer(layer, name, "a path that leaves the image with '..'");
            }

            if (segment != ".")
            {
                segments.Add(segment);
            }
        }

        return string.Join('/', segments);
    }

    /// <summary>Creates the folders of <paramref name="relative"/> below the root; refuses to go through a symbolic link.</summary>
    private static string EnsureDirectory(string layer, string root, string relative, string entryName, bool ownerOnly, bool create = true)
    {
        var current = root;
        foreach (var segment in relative.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, segment);
            var info = new FileInfo(current);
            if (info.LinkTarget is not null)
            {
                throw ImageErrors.UnsafeLayer(layer, entryName, $"a path through the symbolic link '{segment}'");
            }

            if (!create)
            {
                continue;
            }

            if (info.Exists)
            {
                // A file of a lower layer is replaced by the folder this layer puts there.
                File.Delete(current);
            }

            CreateDirectory(current, ownerOnly);
        }

        return current;
    }

    private static void CreateDirectory(string path, bool ownerOnly)
    {
        if (ownerOnly)
        {
            PrivateFiles.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path);
        }
    }

    private static bool IsRealDirectory(string path)
    {
        var info = new DirectoryInfo(path);
        return info.Exists && info.LinkTarget is null;
    }

    /// <summary>Removes a file, link or folder without following links.</summary>
    private static void Remove(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null || info.Exists)
        {
            File.Delete(path);
        }
        else if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }

    private static void SetMode(string path, UnixFileMode mode)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, mode);
        }
    }

    /// <summary>Reads a layer's tar without closing the blob under it, and stops it at the unpack budget.</summary>
    private sealed class BudgetStream(Stream inner, long budget, string layer) : Stream
    {
        public long BytesRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Count(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Count(int read)
        {
            BytesRead += read;
            return BytesRead > budget ? throw ImageErrors.TooLarge(layer, budget) : read;
        }
    }
}
