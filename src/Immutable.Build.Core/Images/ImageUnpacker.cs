using System.Runtime.InteropServices;

namespace Immutable.Build.Images;

/// <summary>An image unpacked to a folder: its root file system and its config.</summary>
/// <param name="Directory">The folder that holds the image's root file system.</param>
/// <param name="ManifestDigest">The digest the image was read by.</param>
/// <param name="Config">The image config (Entrypoint, Cmd, Env, WorkingDir, ...).</param>
public sealed record UnpackedImage(string Directory, Digest ManifestDigest, ImageConfig Config);

/// <summary>
/// Unpacks an image, found by digest (never by tag), into a folder: every blob is checked against its
/// descriptor, the layers are applied in order (whiteouts included), and the result appears atomically.
/// Sources: <c>oci:/path/to/layout</c> (or a layout folder's path) and, when the unpacker is given a way to
/// open them (<c>RegistryImageSource.Opener</c>, one layer up), <c>registry/repository[@sha256:...]</c>.
/// </summary>
public sealed class ImageUnpacker
{
    private readonly Func<ImageReference, IImageSource>? _openRegistry;
    private readonly Platform _platform;

    /// <summary>
    /// Creates an unpacker; <paramref name="openRegistry"/> opens a registry reference (without it only OCI
    /// layouts are read), <paramref name="platform"/> picks the manifest of a multi-platform image (default:
    /// this machine's).
    /// </summary>
    public ImageUnpacker(Func<ImageReference, IImageSource>? openRegistry = null, Platform? platform = null)
    {
        _openRegistry = openRegistry;
        _platform = platform ?? CurrentPlatform();
    }

    /// <summary>
    /// True: the unpacked folders are 0700 and the files lose their group and other bits (keeping their own
    /// executable bits), as a release unpacked into the state directory must be; false: the layers' own modes.
    /// </summary>
    public bool OwnerOnly { get; init; }

    /// <summary>
    /// The most bytes the image's layers may hold once decompressed, all layers together (IMB3030 past it), so a tar
    /// or gzip bomb fills no disk: by default 16 GiB, far above any app image.
    /// </summary>
    public long MaxUnpackedBytes { get; init; } = DefaultMaxUnpackedBytes;

    /// <summary>The default of <see cref="MaxUnpackedBytes"/>.</summary>
    public const long DefaultMaxUnpackedBytes = 16L << 30;

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
        var temp = Path.Combine(parent, $".tmp-{Path.GetFileName(target)}-{Guid.NewGuid():N}");
        if (OwnerOnly)
        {
            PrivateFiles.CreateDirectory(temp);
        }
        else
        {
            Directory.CreateDirectory(temp);
        }

        try
        {
            var budget = MaxUnpackedBytes;
            foreach (var layer in manifest.Layers)
            {
                budget -= await ApplyLayerAsync(source, layer, temp, OwnerOnly, budget, cancellationToken);
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
        catch (IOException e) when (DiskFull.Is(e))
        {
            // Named after the release's folder, not the temporary one it was filling (which goes below).
            throw DiskFull.Error(target, e);
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

    private async Task<(ImageManifest Manifest, ImageConfig Config)> ResolveAsync(IImageSource source, Digest digest, CancellationToken ct)
    {
        var what = $"{source.Name}@{digest}";
        var bytes = await source.ReadManifestAsync(digest, ct);
        var mediaType = ImageJson.SniffMediaType(bytes, null);
        for (var depth = 0; MediaTypes.IsIndex(mediaType); depth++)
        {
            if (depth == 4)
            {
                throw ImageErrors.ImageSource(source.Name, $"the indexes of {digest} nest deeper than four levels");
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

    private static async Task<long> ApplyLayerAsync(IImageSource source, Descriptor layer, string root, bool ownerOnly, long budget, CancellationToken ct)
    {
        var compressed = LayerExtractor.IsCompressed(layer);
        await using var blob = await source.OpenBlobAsync(layer, ct);
        try
        {
            return await LayerExtractor.ExtractAsync(blob, compressed, layer, root, budget, ct, ownerOnly);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException)
        {
            // A gzip or tar cut short or garbled: its digest may match (the bytes are what the descriptor says), its content is no layer.
            throw ImageErrors.DigestMismatch($"Layer {layer.Digest} of {source.Name}", $"a valid {layer.MediaType}", $"content that does not read as one ({e.Message})");
        }
    }

    private IImageSource OpenSource(string imageSource, Digest digest)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageSource);
        if (imageSource.StartsWith("oci:", StringComparison.Ordinal))
        {
            return OciLayoutSource.Open(imageSource, imageSource["oci:".Length..]);
        }

        if (Path.IsPathRooted(imageSource) || imageSource.StartsWith('.'))
        {
            return OciLayoutSource.Open(imageSource, imageSource);
        }

        ImageReference reference;
        try
        {
            reference = ImageReference.Parse(imageSource);
        }
        catch (ImmutableBuildException e)
        {
            throw ImageErrors.ImageSource(imageSource, "it is neither oci:<folder> nor a registry reference", e);
        }

        if (reference.Digest is { } named && named != digest.Value)
        {
            throw ImageErrors.ImageSource(imageSource, $"it names {named}, not the release's {digest}");
        }

        return _openRegistry is { } open
            ? open(reference)
            : throw ImageErrors.ImageSource(imageSource, "it is a registry reference and this unpacker was given no registry to read it from");
    }
}
