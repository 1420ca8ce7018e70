using System.Globalization;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Immutable.Build.Images;

/// <summary>
/// Builds gzip layers from <see cref="LayerSpec"/>s into a cache directory (e.g. <c>obj/immutable/layers</c>).
/// Each layer is stored by digest, next to a fingerprint of its sources: paths, sizes, mtimes and modes
/// (never their content), the tar timestamp and the runtime that compresses. When a fingerprint matches,
/// the cached layer is returned untouched, so a build with nothing changed rewrites no layer.
/// </summary>
/// <remarks>
/// The tar streams through SHA-256 (diff ID), gzip, SHA-256 (digest) to a temporary file that is then
/// renamed into place, each byte read once; a layer is never held in memory (a few 256 KiB blocks between the
/// stages) and an interrupted build leaves no cache entry.
/// </remarks>
public sealed class LayerBuilder
{
    private const string FingerprintVersion = "immutable-build layer v1";
    private readonly string _blobs;

    /// <summary>Uses (and creates when needed) <paramref name="cacheDirectory"/>.</summary>
    public LayerBuilder(string cacheDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(cacheDirectory);
        CacheDirectory = Path.GetFullPath(cacheDirectory);
        _blobs = Path.Combine(CacheDirectory, "sha256");
    }

    /// <summary>The cache directory.</summary>
    public string CacheDirectory { get; }

    /// <summary>The compression level for new layers; changing it changes digests.</summary>
    public CompressionLevel CompressionLevel { get; init; } = CompressionLevel.Optimal;

    /// <summary>
    /// Where a layer that has to be built also streams its gzip while it compresses (a registry upload); null for nowhere.
    /// Not used for a layer taken from the cache.
    /// </summary>
    internal LayerSinkFactory? Sink { get; init; }

    /// <summary>Where a sink's failures are told (they do not fail the layer).</summary>
    internal Action<string>? SinkLog { get; init; }

    /// <summary>Returns the cached layer for <paramref name="spec"/> when its sources are unchanged, else builds it.</summary>
    public async Task<BuiltLayer> BuildAsync(LayerSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var writer = new DeterministicTarWriter(spec.Timestamp);
        var fingerprint = new StringBuilder();
        var lines = new List<string>(spec.Files.Count);
        foreach (var file in spec.Files)
        {
            if (!Path.IsPathFullyQualified(file.SourcePath))
            {
                throw ImageErrors.SourceUnreadable(file.SourcePath, new ArgumentException("the source path must be absolute"));
            }

            var info = TarEntry.Stat(file.SourcePath);
            var entry = TarEntry.FromDisk(info, file.PathInImage);
            writer.Add(entry);
            lines.Add(FingerprintLine(entry, info));
        }

        lines.Sort(StringComparer.Ordinal);
        fingerprint.Append(FingerprintVersion).Append('\n')
            .Append("runtime ").Append(RuntimeInformation.FrameworkDescription).Append('\n')
            .Append("compression ").Append(CompressionLevel.ToString()).Append('\n')
            .Append("mtime ").Append(writer.Timestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (var line in lines)
        {
            fingerprint.Append(line).Append('\n');
        }

        var text = fingerprint.ToString();
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text))).ToLowerInvariant();
        var entryFile = Path.Combine(CacheDirectory, key + ".json");
        if (TryReuse(entryFile, text, spec.Name) is { } cached)
        {
            return cached;
        }

        Directory.CreateDirectory(_blobs);
        // The blob's name is its digest, known only once it is written: AtomicFile.Commit names it then.
        var temp = AtomicFile.TempPathFor(Path.Combine(CacheDirectory, "layer"));
        var sink = Sink is null ? null : await Sink(spec.Name, writer.Entries.Sum(e => e.Size), cancellationToken);
        var side = sink is null ? null : new BestEffortSinkStream(sink, SinkLog);
        var sideCommitted = false;
        try
        {
            Digest digest, diffId;
            long size, tarLength;
            int count;
            // Writes arrive in whole pipe blocks, so the file needs no buffer of its own.
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                // Three stages on three tasks, one pass over each byte: read + tar + SHA-256 | CRC + deflate | SHA-256 + write.
                // Deflate is the slow one; the pipes take the rest off its core.
                using var compressedHash = new HashingWriteStream(file);
                // The side channel has a pipe of its own (2 MiB), so a moment's stall of the network holds up neither the file nor deflate.
                await using var toSide = side is null ? null : new PipeWriteStream(side, _ => ValueTask.CompletedTask, cancellationToken, depth: 8);
                await using var toFile = new PipeWriteStream(
                    toSide is null ? compressedHash : new TeeWriteStream(compressedHash, toSide),
                    async ct =>
                    {
                        await file.FlushAsync(ct);
                        if (toSide is not null)
                        {
                            await toSide.CompleteAsync(ct);
                        }
                    },
                    cancellationToken);
                await using var gzip = new GzipWriteStream(toFile, CompressionLevel, leaveOpen: true);
                await using var toGzip = new PipeWriteStream(gzip, async ct =>
                {
                    await gzip.FinishAsync(ct);
                    await toFile.CompleteAsync(ct);
                }, cancellationToken);
                using var tarHash = new HashingWriteStream(toGzip);
                var summary = await writer.WriteToAsync(tarHash, cancellationToken);
                await toGzip.CompleteAsync(cancellationToken);
                diffId = tarHash.GetDigest();
                digest = compressedHash.GetDigest();
                size = compressedHash.BytesWritten;
                tarLength = summary.Length;
                count = summary.SourceCount;
            }

            if (side is not null)
            {
                sideCommitted = await side.CompleteAsync(digest, size, cancellationToken);
            }

            var path = BlobPath(digest);
            // A file of the same digest already has these bytes: it is kept, so its timestamps (and anyone reading it) are undisturbed.
            AtomicFile.Commit(temp, path, overwrite: false);
            var record = new LayerCacheEntry(text, digest.Value, diffId.Value, size, MediaTypes.OciLayerGzip, count, tarLength);
            AtomicFile.WriteAllBytes(entryFile, JsonSerializer.SerializeToUtf8Bytes(record, ImagesJsonContext.Default.LayerCacheEntry));
            return new BuiltLayer(spec.Name, path, digest, diffId, size, MediaTypes.OciLayerGzip, count, tarLength, Reused: false);
        }
        catch (IOException e) when (DiskFull.Is(e))
        {
            throw DiskFull.Error(temp, e);
        }
        finally
        {
            File.Delete(temp);
            if (side is not null && !sideCommitted)
            {
                await side.AbortAsync();
            }
        }
    }

    /// <summary>
    /// Deletes cached layers and fingerprints that none of <paramref name="keep"/> uses, so the cache
    /// holds one build's worth of layers. Returns how many layer files were removed.
    /// </summary>
    public int Prune(IEnumerable<BuiltLayer> keep)
    {
        ArgumentNullException.ThrowIfNull(keep);
        var live = keep.Select(l => l.Digest.Value).ToHashSet(StringComparer.Ordinal);
        if (!Directory.Exists(CacheDirectory))
        {
            return 0;
        }

        foreach (var json in Directory.EnumerateFiles(CacheDirectory, "*.json"))
        {
            var entry = ReadEntry(json);
            if (entry is null || !live.Contains(entry.Digest))
            {
                File.Delete(json);
            }
        }

        var removed = 0;
        if (Directory.Exists(_blobs))
        {
            foreach (var blob in Directory.EnumerateFiles(_blobs))
            {
                if (!live.Contains("sha256:" + Path.GetFileName(blob)))
                {
                    File.Delete(blob);
                    removed++;
                }
            }
        }

        return removed;
    }

    private BuiltLayer? TryReuse(string entryFile, string fingerprint, string name)
    {
        var entry = ReadEntry(entryFile);
        if (entry is null || entry.Fingerprint != fingerprint || !Digest.TryParse(entry.Digest, out var digest) || !Digest.TryParse(entry.DiffId, out var diffId))
        {
            return null;
        }

        var path = BlobPath(digest);
        var blob = new FileInfo(path);
        return blob.Exists && blob.Length == entry.Size
            ? new BuiltLayer(name, path, digest, diffId, entry.Size, entry.MediaType, entry.FileCount, entry.UncompressedSize, Reused: true)
            : null;
    }

    private static LayerCacheEntry? ReadEntry(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllBytes(path), ImagesJsonContext.Default.LayerCacheEntry) : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            // A damaged cache entry only costs a rebuild.
            return null;
        }
    }

    private static string FingerprintLine(TarEntry entry, FileSystemInfo info)
    {
        // Length-prefixed strings, so no path or target can imitate another line.
        static string Field(string? s) => s is null ? "-" : $"{s.Length.ToString(CultureInfo.InvariantCulture)}:{s}";
        var size = entry.Kind == TarEntryKind.File ? entry.Size : 0;
        return string.Join(' ',
            Field(entry.Path),
            entry.Kind.ToString(),
            size.ToString(CultureInfo.InvariantCulture),
            info.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture),
            Convert.ToString(entry.Mode, 8),
            Field(entry.SourcePath),
            Field(entry.LinkTarget));
    }

    private string BlobPath(Digest digest) => Path.Combine(_blobs, digest.Hex);
}

/// <summary>What the layer cache remembers about a built layer.</summary>
internal sealed record LayerCacheEntry(
    string Fingerprint,
    string Digest,
    string DiffId,
    long Size,
    string MediaType,
    int FileCount,
    long UncompressedSize);
