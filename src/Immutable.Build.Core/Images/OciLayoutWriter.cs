using System.Text.Json;

namespace Immutable.Build.Images;

/// <summary>What <see cref="OciLayoutWriter"/> did.</summary>
/// <param name="LayoutDirectory">The layout.</param>
/// <param name="Digest">The manifest digest.</param>
/// <param name="Tags">The ref names now pointing at the image.</param>
/// <param name="BlobsWritten">Blobs copied into the layout.</param>
/// <param name="BlobsPresent">Blobs that were already there and left alone.</param>
public sealed record OciLayoutResult(string LayoutDirectory, Digest Digest, IReadOnlyList<string> Tags, int BlobsWritten, int BlobsPresent);

/// <summary>
/// Writes an image into an OCI image layout (readable by skopeo, podman, crane, umoci): blobs under
/// <c>blobs/sha256</c>, and one index.json entry per tag annotated with its ref name. Blobs already in the
/// layout are not rewritten; base layers are fetched only when missing, through the blob cache when given.
/// </summary>
public sealed class OciLayoutWriter
{
    private readonly BlobCache? _cache;

    /// <summary>A writer for <paramref name="layoutDirectory"/> (created when missing).</summary>
    public OciLayoutWriter(string layoutDirectory, BlobCache? blobCache = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(layoutDirectory);
        LayoutDirectory = Path.GetFullPath(layoutDirectory);
        _cache = blobCache;
    }

    /// <summary>The layout directory.</summary>
    public string LayoutDirectory { get; }

    /// <summary>
    /// Writes <paramref name="image"/> and points each of <paramref name="tags"/> at it (a tag that named
    /// another image in this layout now names this one). Without tags, the image is listed without a name.
    /// </summary>
    public async Task<OciLayoutResult> WriteAsync(ImageContent image, IReadOnlyCollection<string> tags, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(tags);
        foreach (var tag in tags)
        {
            if (!ImageReference.IsValidTag(tag))
            {
                throw ImageErrors.InvalidSetting("Tag", tag, "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
            }
        }

        var blobsDir = Path.Combine(LayoutDirectory, "blobs", "sha256");
        Directory.CreateDirectory(blobsDir);
        var layoutFile = Path.Combine(LayoutDirectory, "oci-layout");
        if (!File.Exists(layoutFile))
        {
            AtomicFile.WriteAllBytes(layoutFile, JsonSerializer.SerializeToUtf8Bytes(new OciLayoutFile("1.0.0"), ImageJson.Context.OciLayoutFile));
        }

        int written = 0, present = 0;
        foreach (var blob in image.Layers.Prepend(image.Config).DistinctBy(b => b.Descriptor.Digest, StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var path = Path.Combine(blobsDir, Digest.Parse(blob.Descriptor.Digest).Hex);
            var existing = new FileInfo(path);
            if (existing.Exists && existing.Length == blob.Descriptor.Size)
            {
                present++;
                continue;
            }

            await BlobFiles.CopyVerifiedAsync(await BlobFiles.OpenSourceAsync(blob, _cache, cancellationToken), blob.Descriptor, path, cancellationToken);
            written++;
        }

        var manifestPath = Path.Combine(blobsDir, image.Digest.Hex);
        if (File.Exists(manifestPath))
        {
            present++;
        }
        else
        {
            await BlobFiles.CopyVerifiedAsync(new MemoryStream(image.Manifest, writable: false), Descriptor(image), manifestPath, cancellationToken);
            written++;
        }

        await UpdateIndexAsync(image, tags, cancellationToken);
        return new OciLayoutResult(LayoutDirectory, image.Digest, tags.ToList(), written, present);
    }

    private async Task UpdateIndexAsync(ImageContent image, IReadOnlyCollection<string> tags, CancellationToken ct)
    {
        var indexPath = Path.Combine(LayoutDirectory, "index.json");
        var entries = File.Exists(indexPath)
            ? ImageJson.ParseIndex(await File.ReadAllBytesAsync(indexPath, ct), indexPath).Manifests.ToList()
            : [];
        var platform = await ReadPlatformAsync(image);
        var tagSet = tags.ToHashSet(StringComparer.Ordinal);
        // A tag names one image: entries for our tags go, and so does an unnamed entry for this very image.
        entries.RemoveAll(d => d.Annotations?.GetValueOrDefault(OciLayoutBase.RefNameAnnotation) is { } name
            ? tagSet.Contains(name)
            : d.Digest == image.Digest.Value);
        var ours = tags.Count == 0
            ? [Descriptor(image) with { Platform = platform }]
            : tags.Distinct(StringComparer.Ordinal).Select(t => Descriptor(image) with
            {
                Platform = platform,
                Annotations = new Dictionary<string, string> { [OciLayoutBase.RefNameAnnotation] = t },
            });
        entries.AddRange(ours);
        // Ordered by name then digest, so the file does not depend on the order of earlier writes.
        entries.Sort((a, b) =>
        {
            var byName = string.CompareOrdinal(a.Annotations?.GetValueOrDefault(OciLayoutBase.RefNameAnnotation), b.Annotations?.GetValueOrDefault(OciLayoutBase.RefNameAnnotation));
            return byName != 0 ? byName : string.CompareOrdinal(a.Digest, b.Digest);
        });
        var index = new ImageIndex { MediaType = MediaTypes.OciIndex, Manifests = entries };
        AtomicFile.WriteAllBytes(indexPath, ImageJson.Serialize(index));
    }

    private static async Task<Platform?> ReadPlatformAsync(ImageContent image)
    {
        await using var stream = BlobFiles.Open(image.Config);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        var config = ImageJson.ParseConfig(buffer.ToArray());
        return string.IsNullOrEmpty(config.Os) || string.IsNullOrEmpty(config.Architecture)
            ? null
            : new Platform(config.Architecture, config.Os) { Variant = config.Variant };
    }

    private static Descriptor Descriptor(ImageContent image) => new(image.ManifestMediaType, image.Digest.Value, image.Manifest.LongLength);
}
