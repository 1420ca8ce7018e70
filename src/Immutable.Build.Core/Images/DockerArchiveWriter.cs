using System.Text.Json;

namespace Immutable.Build.Images;

/// <summary>What <see cref="DockerArchiveWriter"/> wrote.</summary>
/// <param name="ArchivePath">The archive.</param>
/// <param name="Digest">The manifest digest of the image (a registry push would give the same one).</param>
/// <param name="RepoTags">The references <c>docker load</c> tags the image with.</param>
/// <param name="Length">Archive size in bytes.</param>
public sealed record DockerArchiveResult(string ArchivePath, Digest Digest, IReadOnlyList<string> RepoTags, long Length);

/// <summary>
/// Writes a docker-archive tar for <c>docker load</c> (and <c>skopeo ... docker-archive:</c>): manifest.json
/// with Config, RepoTags and Layers, the config as <c>&lt;hex&gt;.json</c> and each layer as its compressed blob
/// <c>&lt;hex&gt;.tar.gz</c>. Docker decompresses layers on load (since 1.10), so they are not re-encoded.
/// </summary>
public sealed class DockerArchiveWriter
{
    private readonly BlobCache? _cache;

    /// <summary>A writer that fetches registry-held base layers through <paramref name="blobCache"/> when given.</summary>
    public DockerArchiveWriter(BlobCache? blobCache = null) => _cache = blobCache;

    /// <summary>
    /// Writes the archive to <paramref name="archivePath"/> (through a temporary file). <paramref name="repoTags"/>
    /// are full references with a tag, e.g. <c>localhost:5000/app:3f2a1c9</c>; without any the image loads untagged.
    /// </summary>
    public async Task<DockerArchiveResult> WriteAsync(ImageContent image, string archivePath, IReadOnlyCollection<string> repoTags, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentException.ThrowIfNullOrEmpty(archivePath);
        ArgumentNullException.ThrowIfNull(repoTags);
        var tags = repoTags.Select(ValidateRepoTag).Distinct(StringComparer.Ordinal).ToList();

        // Entries carry the epoch: the archive is a transport, and a fixed time keeps it reproducible too.
        var tar = new DeterministicTarWriter(DateTimeOffset.UnixEpoch);
        var configName = Digest.Parse(image.Config.Descriptor.Digest).Hex + ".json";
        tar.Add(Entry(configName, image.Config));
        var layerNames = new List<string>();
        foreach (var layer in image.Layers)
        {
            var name = Digest.Parse(layer.Descriptor.Digest).Hex + Extension(layer.Descriptor.MediaType);
            if (!layerNames.Contains(name, StringComparer.Ordinal))
            {
                tar.Add(Entry(name, layer));
            }

            layerNames.Add(name);
        }

        IReadOnlyList<DockerArchiveManifestEntry> manifest = [new DockerArchiveManifestEntry(configName, tags, layerNames)];
        tar.Add(TarEntry.FromBytes("manifest.json", JsonSerializer.SerializeToUtf8Bytes(manifest, ImageJson.Context.IReadOnlyListDockerArchiveManifestEntry)));

        var full = Path.GetFullPath(archivePath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        TarSummary? summary = null;
        await AtomicFile.WriteAsync(full, async (output, ct) => summary = await tar.WriteToAsync(output, ct), overwrite: true, cancellationToken);
        return new DockerArchiveResult(full, image.Digest, tags, summary!.Length);
    }

    private TarEntry Entry(string name, BlobContent blob) =>
        TarEntry.FromStream(name, blob.Descriptor.Size, async ct => await BlobFiles.OpenVerifiedAsync(blob, _cache, ct));

    private static string Extension(string mediaType) => mediaType switch
    {
        MediaTypes.OciLayer or MediaTypes.DockerLayer => ".tar",
        MediaTypes.OciLayerZstd => ".tar.zst",
        _ => ".tar.gz",
    };

    private static string ValidateRepoTag(string reference)
    {
        ImageReference parsed;
        try
        {
            parsed = ImageReference.Parse(reference);
        }
        catch (ImmutableBuildException)
        {
            throw ImageErrors.InvalidSetting("Archive reference", reference, "repository:tag, e.g. localhost:5000/app:3f2a1c9");
        }

        return parsed.Tag is null || parsed.Digest is not null || parsed.IsScratch
            ? throw ImageErrors.InvalidSetting("Archive reference", reference, "repository:tag without a digest, e.g. localhost:5000/app:3f2a1c9")
            : reference.Trim();
    }
}
