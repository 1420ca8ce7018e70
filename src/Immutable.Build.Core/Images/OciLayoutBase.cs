namespace Immutable.Build.Images;

/// <summary>
/// A base image read from an OCI image layout directory (what skopeo, umoci, buildah or <see cref="OciLayoutWriter"/>
/// write). The image is the index.json entry annotated with the ref name, or its only entry; an index entry is
/// resolved to the RID's platform.
/// </summary>
public sealed class OciLayoutBase : IBaseImageSource
{
    /// <summary>The annotation an OCI layout names its images with.</summary>
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    private readonly string _layout;
    private readonly string? _refName;
    private readonly Platform _platform;

    /// <summary>Reads <paramref name="layoutDirectory"/>; <paramref name="refName"/> may be null when the layout holds one image.</summary>
    public OciLayoutBase(string layoutDirectory, string? refName, string rid)
    {
        ArgumentException.ThrowIfNullOrEmpty(layoutDirectory);
        _layout = Path.GetFullPath(layoutDirectory);
        _refName = string.IsNullOrEmpty(refName) ? null : refName;
        _platform = Platforms.FromRuntimeIdentifier(rid);
    }

    /// <inheritdoc />
    public string Name => _refName is null ? $"oci:{_layout}" : $"oci:{_layout}:{_refName}";

    /// <inheritdoc />
    public async Task<BaseImage> ResolveAsync(CancellationToken cancellationToken = default)
    {
        if (!File.Exists(Path.Combine(_layout, "oci-layout")) || !File.Exists(Path.Combine(_layout, "index.json")))
        {
            throw ImageErrors.BadLayout(_layout, "oci-layout or index.json is missing");
        }

        var index = ImageJson.ParseIndex(await File.ReadAllBytesAsync(Path.Combine(_layout, "index.json"), cancellationToken), $"{_layout}/index.json");
        Descriptor chosen;
        if (_refName is not null)
        {
            chosen = index.Manifests.FirstOrDefault(m => m.Annotations?.GetValueOrDefault(RefNameAnnotation) == _refName)
                ?? throw ImageErrors.BadLayout(_layout, $"no image is named '{_refName}' (names: {string.Join(", ", RefNames(index).DefaultIfEmpty("none"))})");
        }
        else if (index.Manifests.Count == 1)
        {
            chosen = index.Manifests[0];
        }
        else
        {
            throw ImageErrors.BadLayout(_layout, $"it holds {index.Manifests.Count} images; name one of: {string.Join(", ", RefNames(index).DefaultIfEmpty("none"))}");
        }

        Digest? indexDigest = null;
        var (bytes, mediaType) = await ReadDocumentAsync(chosen, cancellationToken);
        for (var depth = 0; MediaTypes.IsIndex(mediaType); depth++)
        {
            if (depth == 4)
            {
                throw ImageErrors.BadLayout(_layout, "indexes nest deeper than four levels");
            }

            indexDigest ??= Digest.Parse(chosen.Digest);
            var nested = ImageJson.ParseIndex(bytes, $"Index {chosen.Digest} in {_layout}");
            chosen = Platforms.Select(nested, _platform, Name);
            (bytes, mediaType) = await ReadDocumentAsync(chosen, cancellationToken);
        }

        if (!MediaTypes.IsManifest(mediaType))
        {
            throw ImageErrors.BadDocument($"Manifest {chosen.Digest} in {_layout}", $"media type '{mediaType}' is not an image manifest");
        }

        var manifest = ImageJson.ParseManifest(bytes, $"Manifest {chosen.Digest} in {_layout}");
        var config = ImageJson.ParseConfig(await ReadBlobAsync(manifest.Config, cancellationToken), $"Config {manifest.Config.Digest} in {_layout}");
        Platforms.EnsureConfigMatches(config, _platform, Name);
        return new BaseImage
        {
            Name = Name,
            ManifestDigest = Digest.Parse(chosen.Digest),
            IndexDigest = indexDigest,
            ManifestMediaType = mediaType,
            Platform = _platform,
            Config = config,
            Layers = manifest.Layers,
            OpenLayer = d => new FileStream(BlobPath(d), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan),
        };
    }

    private async Task<(byte[] Bytes, string MediaType)> ReadDocumentAsync(Descriptor descriptor, CancellationToken ct)
    {
        var bytes = await ReadBlobAsync(descriptor, ct);
        return (bytes, ImageJson.SniffMediaType(bytes, descriptor.MediaType));
    }

    /// <summary>Reads a small blob and checks it against its descriptor.</summary>
    private async Task<byte[]> ReadBlobAsync(Descriptor descriptor, CancellationToken ct)
    {
        var path = BlobPath(descriptor);
        if (!File.Exists(path))
        {
            throw ImageErrors.BadLayout(_layout, $"blob {descriptor.Digest} is missing");
        }

        var bytes = await File.ReadAllBytesAsync(path, ct);
        var actual = Digest.Of(bytes).Value;
        if (actual != descriptor.Digest)
        {
            throw ImageErrors.DigestMismatch($"{path}", descriptor.Digest, actual);
        }

        return bytes;
    }

    private string BlobPath(Descriptor descriptor)
    {
        var digest = Digest.TryParse(descriptor.Digest, out var d)
            ? d
            : throw ImageErrors.BadLayout(_layout, $"'{descriptor.Digest}' is not a sha256 digest");
        return Path.Combine(_layout, "blobs", "sha256", digest.Hex);
    }

    private static IEnumerable<string> RefNames(ImageIndex index) =>
        index.Manifests.Select(m => m.Annotations?.GetValueOrDefault(RefNameAnnotation)).OfType<string>();
}
