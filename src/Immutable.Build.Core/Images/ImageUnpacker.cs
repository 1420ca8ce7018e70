using Immutable.Build.Targets.Local;
using System.Formats.Tar;
using FormatsTarEntry = System.Formats.Tar.TarEntry;
using System.IO.Compression;
using System.Runtime.InteropServices;
using Immutable.Build.Registry;
using Immutable.Build.Targets;

namespace Immutable.Build.Images;

/// <summary>An image unpacked to a folder: its root file system and its config.</summary>
/// <param name="Directory">The folder that holds the image's root file system.</param>
/// <param name="ManifestDigest">The digest the image was read by.</param>
/// <param name="Config">The image config (Entrypoint, Cmd, Env, WorkingDir, ...).</param>
public sealed record UnpackedImage(string Directory, Digest ManifestDigest, ImageConfig Config);

/// <summary>
/// Unpacks an image, found by digest (never by tag), into a folder: every blob is checked against its
/// descriptor, the layers are applied in order (whiteouts included), and the result appears atomically.
/// Sources: <c>oci:/path/to/layout</c> (or a layout folder's path) and <c>registry/repository[@sha256:...]</c>.
/// </summary>
public sealed class ImageUnpacker
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueWhiteout = ".wh..wh..opq";

    private readonly RegistryClientOptions? _registryOptions;
    private readonly Platform _platform;

    /// <summary>Creates an unpacker; <paramref name="platform"/> picks the manifest of a multi-platform image (default: this machine's).</summary>
    public ImageUnpacker(RegistryClientOptions? registryOptions = null, Platform? platform = null)
    {
        _registryOptions = registryOptions;
        _platform = platform ?? CurrentPlatform();
    }

    /// <summary>The platform of this machine, as images name it (linux/amd64, linux/arm64, ...).</summary>
    public static Platform CurrentPlatform()
    {
        var os = OperatingSystem.IsWindows() ? "windows" : OperatingSystem.IsMacOS() ? "darwin" : "linux";
        return RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => new Platform("amd64", os),
            Architecture.Arm64 => new Platform("arm64", os),
            Architecture.Arm => new Platform("arm", os) { Variant = "v7" },
            Architecture.X86 => new Platform("386", os),
            var other => new Platform(other.ToString().ToLowerInvariant(), os),
        };
    }

    /// <summary>Reads only the config of the image <paramref name="digest"/> in <paramref name="imageSource"/>.</summary>
    public async Task<ImageConfig> ReadConfigAsync(string imageSource, Digest digest, CancellationToken cancellationToken = default)
    {
        using var source = OpenSource(imageSource, digest);
        var (_, config) = await ResolveAsync(source, digest, cancellationToken);
        return config;
    }

    /// <summary>
    /// Unpacks the image <paramref name="digest"/> from <paramref name="imageSource"/> into
    /// <paramref name="targetDirectory"/>, which must not exist yet: the layers are extracted next to it and
    /// the folder is renamed into place, so it is either complete or absent. When another unpacker finished
    /// the same folder first, that folder is kept (the content is the same digest).
    /// </summary>
    public async Task<UnpackedImage> UnpackAsync(string imageSource, Digest digest, string targetDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(targetDirectory);
        var target = Path.GetFullPath(targetDirectory);
        using var source = OpenSource(imageSource, digest);
        var (manifest, config) = await ResolveAsync(source, digest, cancellationToken);
        var parent = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, $".tmp-{Path.GetFileName(target)}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        try
        {
            foreach (var layer in manifest.Layers)
            {
                await ApplyLayerAsync(source, layer, temp, cancellationToken);
            }

            try
            {
                Directory.Move(temp, target);
            }
            catch (IOException) when (Directory.Exists(target))
            {
                // A concurrent unpack of the same digest won the rename; its folder is as good as ours.
            }
        }
        finally
        {
            if (Directory.Exists(temp))
            {
                Directory.Delete(temp, recursive: true);
            }
        }

        return new UnpackedImage(target, digest, config);
    }

    private async Task<(ImageManifest Manifest, ImageConfig Config)> ResolveAsync(IBlobSource source, Digest digest, CancellationToken ct)
    {
        var what = $"{source.Name}@{digest}";
        var bytes = await source.ReadManifestAsync(digest, ct);
        var mediaType = ImageJson.SniffMediaType(bytes, null);
        for (var depth = 0; MediaTypes.IsIndex(mediaType); depth++)
        {
            if (depth == 4)
            {
                throw LocalErrors.ImageSource(source.Name, $"the indexes of {digest} nest deeper than four levels");
            }

            var chosen = Platforms.Select(ImageJson.ParseIndex(bytes, $"Index {what}"), _platform, what);
            bytes = await source.ReadManifestAsync(Digest.Parse(chosen.Digest), ct);
            mediaType = ImageJson.SniffMediaType(bytes, chosen.MediaType);
        }

        if (!MediaTypes.IsManifest(mediaType))
        {
            throw ImageErrors.BadDocument($"Manifest {what}", $"media type '{mediaType}' is not an image manifest");
        }

        var manifest = ImageJson.ParseManifest(bytes, $"Manifest {what}");
        var config = ImageJson.ParseConfig(await source.ReadBlobAsync(manifest.Config, ct), $"Config {manifest.Config.Digest} of {what}");
        return (manifest, config);
    }

    private static async Task ApplyLayerAsync(IBlobSource source, Descriptor layer, string root, CancellationToken ct)
    {
        var compressed = layer.MediaType switch
        {
            MediaTypes.OciLayerGzip or MediaTypes.DockerLayerGzip or "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => true,
            MediaTypes.OciLayer or MediaTypes.DockerLayer or "application/vnd.oci.image.layer.nondistributable.v1.tar" => false,
            _ => throw LocalErrors.UnsupportedLayer(layer.Digest, layer.MediaType),
        };

        await using var blob = await source.OpenBlobAsync(layer, ct);
        try
        {
            await ExtractAsync(blob, compressed, layer, root, ct);
        }
        catch (InvalidDataException e)
        {
            throw ImageErrors.DigestMismatch($"Layer {layer.Digest} of {source.Name}", $"a valid {layer.MediaType}", $"content that does not read as one ({e.Message})");
        }
    }

    private static async Task ExtractAsync(Stream blob, bool compressed, Descriptor layer, string root, CancellationToken ct)
    {
        await using (var tar = compressed ? new GZipStream(blob, CompressionMode.Decompress, leaveOpen: true) : (Stream)new NonClosingStream(blob))
        {
            var writtenHere = new HashSet<string>(StringComparer.Ordinal);
            using var reader = new TarReader(tar, leaveOpen: true);
            while (await reader.GetNextEntryAsync(copyData: false, ct) is { } entry)
            {
                await ApplyEntryAsync(layer.Digest, entry, root, writtenHere, ct);
            }

            // The tar ends before its stream does (padding blocks); reading to the end is what makes the digest check run.
            await tar.CopyToAsync(Stream.Null, ct);
        }

        await blob.CopyToAsync(Stream.Null, ct);
    }

    private static async Task ApplyEntryAsync(string layer, FormatsTarEntry entry, string root, HashSet<string> writtenHere, CancellationToken ct)
    {
        var relative = Normalise(layer, entry.Name);
        if (relative.Length == 0)
        {
            return;
        }

        var name = Path.GetFileName(relative);
        var parentRelative = Path.GetDirectoryName(relative) ?? "";
        var parent = EnsureDirectory(layer, root, parentRelative, entry.Name);
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
                throw LocalErrors.UnsafeLayer(layer, entry.Name, "a whiteout without a name");
            }

            Remove(Path.Combine(parent, hidden));
            return;
        }

        var path = Path.Combine(parent, name);
        writtenHere.Add(relative);
        var mode = (UnixFileMode)((int)entry.Mode & 0x1FF);
        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
                if (!IsRealDirectory(path))
                {
                    Remove(path);
                    Directory.CreateDirectory(path);
                }

                // The owner keeps rwx so that later layers can write into it and the folder can be deleted.
                SetMode(path, mode | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                break;

            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                Remove(path);
                await using (var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
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
                var linkedParent = EnsureDirectory(layer, root, Path.GetDirectoryName(linked) ?? "", entry.LinkName, create: false);
                var source = Path.Combine(linkedParent, Path.GetFileName(linked));
                if (linked.Length == 0 || !File.Exists(source) || new FileInfo(source).LinkTarget is not null)
                {
                    throw LocalErrors.UnsafeLayer(layer, entry.Name, $"a hard link to '{entry.LinkName}', which is not a regular file of the image");
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
            throw LocalErrors.UnsafeLayer(layer, name, "an absolute path or a path with NUL or backslash");
        }

        var segments = new List<string>();
        foreach (var segment in name.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (segment == "..")
            {
                throw LocalErrors.UnsafeLayer(layer, name, "a path that leaves the image with '..'");
            }

            if (segment != ".")
            {
                segments.Add(segment);
            }
        }

        return string.Join('/', segments);
    }

    /// <summary>Creates the folders of <paramref name="relative"/> below the root; refuses to go through a symbolic link.</summary>
    private static string EnsureDirectory(string layer, string root, string relative, string entryName, bool create = true)
    {
        var current = root;
        foreach (var segment in relative.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, segment);
            var info = new FileInfo(current);
            if (info.LinkTarget is not null)
            {
                throw LocalErrors.UnsafeLayer(layer, entryName, $"a path through the symbolic link '{segment}'");
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

            Directory.CreateDirectory(current);
        }

        return current;
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

    private IBlobSource OpenSource(string imageSource, Digest digest)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageSource);
        if (imageSource.StartsWith("oci:", StringComparison.Ordinal))
        {
            return new LayoutSource(LayoutFolder(imageSource, imageSource["oci:".Length..]));
        }

        if (Path.IsPathRooted(imageSource) || imageSource.StartsWith('.'))
        {
            return new LayoutSource(LayoutFolder(imageSource, imageSource));
        }

        ImageReference reference;
        try
        {
            reference = ImageReference.Parse(imageSource);
        }
        catch (ImmutableBuildException e)
        {
            throw LocalErrors.ImageSource(imageSource, "it is neither oci:<folder> nor a registry reference", e);
        }

        if (reference.Digest is { } named && named != digest.Value)
        {
            throw LocalErrors.ImageSource(imageSource, $"it names {named}, not the release's {digest}");
        }

        var client = new RegistryClient(reference.Registry ?? ImageReference.DockerHub, _registryOptions);
        return new RegistrySource(client, reference.Repository);
    }

    private static string LayoutFolder(string source, string path)
    {
        // skopeo's oci:<folder>:<tag> form: the tag is ignored, images are found by digest.
        var folder = path;
        if (!Directory.Exists(folder) && folder.LastIndexOf(':') is var colon and > 0)
        {
            folder = folder[..colon];
        }

        folder = Path.GetFullPath(folder);
        return File.Exists(Path.Combine(folder, "oci-layout"))
            ? folder
            : throw LocalErrors.ImageSource(source, $"{folder} is not an OCI image layout (no oci-layout file)");
    }

    /// <summary>Where blobs come from; every read is checked against the digest it was asked for.</summary>
    private interface IBlobSource : IDisposable
    {
        string Name { get; }

        Task<byte[]> ReadManifestAsync(Digest digest, CancellationToken ct);

        Task<byte[]> ReadBlobAsync(Descriptor descriptor, CancellationToken ct);

        Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken ct);
    }

    private sealed class LayoutSource(string folder) : IBlobSource
    {
        private const long MaxDocumentBytes = 64L * 1024 * 1024;

        public string Name => $"oci:{folder}";

        public async Task<byte[]> ReadManifestAsync(Digest digest, CancellationToken ct)
        {
            var path = PathOf(digest);
            if (!File.Exists(path))
            {
                throw LocalErrors.ImageSource(Name, $"the layout has no manifest {digest} (was the release's image deleted or published elsewhere?)");
            }

            var bytes = await File.ReadAllBytesAsync(path, ct);
            var actual = Digest.Of(bytes);
            return actual == digest ? bytes : throw ImageErrors.DigestMismatch(path, digest.Value, actual.Value);
        }

        public async Task<byte[]> ReadBlobAsync(Descriptor descriptor, CancellationToken ct)
        {
            if (descriptor.Size > MaxDocumentBytes)
            {
                throw ImageErrors.BadDocument($"Blob {descriptor.Digest} in {Name}", $"it is {descriptor.Size} bytes, more than a config can be");
            }

            await using var stream = await OpenBlobAsync(descriptor, ct);
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, ct);
            return buffer.ToArray();
        }

        public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken ct)
        {
            var path = PathOf(Digest.Parse(descriptor.Digest));
            if (!File.Exists(path))
            {
                throw LocalErrors.ImageSource(Name, $"blob {descriptor.Digest} is missing from the layout");
            }

            Stream file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            return Task.FromResult<Stream>(new VerifyingReadStream(file, descriptor));
        }

        public void Dispose()
        {
        }

        private string PathOf(Digest digest) => Path.Combine(folder, "blobs", "sha256", digest.Hex);
    }

    private sealed class RegistrySource(RegistryClient client, string repository) : IBlobSource
    {
        public string Name => $"{client.Registry}/{repository}";

        public async Task<byte[]> ReadManifestAsync(Digest digest, CancellationToken ct) =>
            (await client.GetManifestAsync(repository, digest.Value, ct)).Content;

        public Task<byte[]> ReadBlobAsync(Descriptor descriptor, CancellationToken ct) =>
            client.GetBlobBytesAsync(repository, Digest.Parse(descriptor.Digest), cancellationToken: ct);

        public async Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken ct) =>
            new VerifyingReadStream(await client.GetBlobAsync(repository, Digest.Parse(descriptor.Digest), ct), descriptor);

        public void Dispose() => client.Dispose();
    }

    /// <summary>Lets an uncompressed layer be read through the same code path without closing the blob stream.</summary>
    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(buffer, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
