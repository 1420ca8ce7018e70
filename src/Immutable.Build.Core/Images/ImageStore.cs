using System.Text.Json;

namespace Immutable.Build.Images;

/// <summary>
/// An OCI image layout that keeps images by digest for as long as someone holds them (by default
/// <c>&lt;state&gt;/images</c>): blobs under <c>blobs/sha256</c>, each written through a temporary file and
/// renamed in, one unnamed index.json entry per image. Holders (scopes) record what they keep in
/// <c>holds/&lt;holder&gt;.held</c>, one digest a line; a <see cref="ImageStoreLease"/> holds an image while a rollout
/// uses it. Writers and pruners take <c>.lock</c>, so a prune only removes what no holder keeps, never a half copy.
/// </summary>
public sealed class ImageStore
{
    /// <summary>The store's folder in a state directory.</summary>
    public const string FolderName = "images";

    private const string HeldSuffix = ".held";
    private const string LeaseSuffix = ".lease";
    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(10);

    private readonly TimeProvider _time;

    /// <summary>A store at <paramref name="directory"/> (created on the first write).</summary>
    public ImageStore(string directory, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory = Path.GetFullPath(directory);
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The layout folder.</summary>
    public string Directory { get; }

    /// <summary>The image source that reads from this store: <c>oci:&lt;folder&gt;</c>.</summary>
    public string Source => "oci:" + Directory;

    private string Blobs => Path.Combine(Directory, "blobs", "sha256");

    private string Holds => Path.Combine(Directory, "holds");

    private string IndexPath => Path.Combine(Directory, "index.json");

    /// <summary>The store of a state directory: <c>&lt;state&gt;/images</c>.</summary>
    public static ImageStore In(string stateDirectory, TimeProvider? time = null) => new(Path.Combine(stateDirectory, FolderName), time);

    /// <summary>Whether <paramref name="source"/> (an <c>oci:</c> source) names this store's folder.</summary>
    public bool IsSource(string source) =>
        source.StartsWith("oci:", StringComparison.Ordinal) && string.Equals(Path.GetFullPath(source[4..]).TrimEnd(Path.DirectorySeparatorChar), Directory.TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal);

    /// <summary>Whether the store has the image's manifest (its blobs are checked when it is kept).</summary>
    public bool Contains(Digest digest) => File.Exists(BlobPath(digest));

    /// <summary>The digests <paramref name="holder"/> keeps, as its last keep or prune left them.</summary>
    public IReadOnlySet<string> HeldBy(string holder) => ReadHeld(HeldPath(Checked(holder)));

    /// <summary>
    /// Puts the image <paramref name="digest"/> into the store and holds it for <paramref name="holder"/>: copied from
    /// <paramref name="source"/> unless it is already here and every blob matches its digest (a damaged blob is copied
    /// again). Without a source the image must be in the store already. The lease holds it too until disposed, so a
    /// prune by the same holder during a rollout cannot remove it.
    /// </summary>
    public async Task<ImageStoreLease> KeepAsync(Digest digest, IImageSource? source, string holder, CancellationToken cancellationToken)
    {
        Checked(holder);
        using var held = await LockAsync(cancellationToken);
        EnsureLayout();
        var copied = await CopyAsync(digest, source, depth: 0, cancellationToken);
        var index = ReadIndex();
        if (!index.Any(d => d.Digest == digest.Value))
        {
            index.Add(new Descriptor(copied.MediaType, digest.Value, copied.Size));
            WriteIndex(index);
        }

        var heldPath = HeldPath(holder);
        var digests = ReadHeld(heldPath);
        if (!digests.Contains(digest.Value))
        {
            WriteHeld(heldPath, digests.Append(digest.Value));
        }

        var leasePath = Path.Combine(Holds, $"{holder}.{digest.Hex}.{Guid.NewGuid():N}{LeaseSuffix}");
        var lease = FileLock.TryAcquire(leasePath) ?? throw ImageErrors.StoreCorrupt(Directory, $"the new lease {leasePath} is locked by someone else");
        return new ImageStoreLease(digest, copied.BlobsWritten, lease);
    }

    /// <summary>
    /// Sets what <paramref name="holder"/> keeps to exactly <paramref name="keep"/>, then removes every image no holder
    /// keeps and no live lease holds, and every blob no kept image uses.
    /// </summary>
    /// <returns>The digests of the images removed.</returns>
    public async Task<IReadOnlyList<string>> PruneAsync(string holder, IReadOnlyCollection<string> keep, CancellationToken cancellationToken)
    {
        Checked(holder);
        ArgumentNullException.ThrowIfNull(keep);
        if (!System.IO.Directory.Exists(Directory))
        {
            return [];
        }

        using var held = await LockAsync(cancellationToken);
        EnsureLayout();
        WriteHeld(HeldPath(holder), keep);
        var kept = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in System.IO.Directory.EnumerateFiles(Holds))
        {
            if (file.EndsWith(HeldSuffix, StringComparison.Ordinal))
            {
                kept.UnionWith(ReadHeld(file));
            }
            else if (file.EndsWith(LeaseSuffix, StringComparison.Ordinal) && LeasedDigest(file) is { } leased)
            {
                kept.Add(leased);
            }
        }

        var index = ReadIndex();
        var removed = index.Where(d => !kept.Contains(d.Digest)).Select(d => d.Digest).Distinct(StringComparer.Ordinal).ToList();
        var remaining = index.Where(d => kept.Contains(d.Digest)).ToList();
        WriteIndex(remaining);

        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in remaining)
        {
            await MarkAsync(Digest.Parse(entry.Digest), used, depth: 0, cancellationToken);
        }

        foreach (var file in System.IO.Directory.EnumerateFiles(Blobs))
        {
            // A .tmp is a copy whose writer died: every live writer holds the lock this prune holds.
            var name = Path.GetFileName(file);
            if (name.EndsWith(".tmp", StringComparison.Ordinal) || !used.Contains("sha256:" + name))
            {
                File.Delete(file);
            }
        }

        return removed;
    }

    private async Task<(string MediaType, long Size, int BlobsWritten)> CopyAsync(Digest digest, IImageSource? source, int depth, CancellationToken ct)
    {
        if (depth > 4)
        {
            throw ImageErrors.BadDocument($"The image {digest}", "its indexes nest deeper than four levels");
        }

        var written = 0;
        var path = BlobPath(digest);
        byte[]? fresh = null;
        byte[] bytes;
        if (File.Exists(path) && await File.ReadAllBytesAsync(path, ct) is var stored && Digest.Of(stored) == digest)
        {
            bytes = stored;
        }
        else
        {
            bytes = fresh = source is null
                ? throw (File.Exists(path) ? ImageErrors.StoreCorrupt(Directory, $"the manifest {path} does not match its digest {digest}") : ImageErrors.NotInStore(Directory, digest.Value))
                : await source.ReadManifestAsync(digest, ct);
        }

        var mediaType = ImageJson.SniffMediaType(bytes, null);
        IEnumerable<(Descriptor Descriptor, bool Manifest)> children;
        if (MediaTypes.IsIndex(mediaType))
        {
            children = ImageJson.ParseIndex(bytes, $"The index {digest}").Manifests.Select(m => (m, true));
        }
        else
        {
            var manifest = ImageJson.ParseManifest(bytes, $"The manifest {digest}");
            children = manifest.Layers.Prepend(manifest.Config).Select(b => (b, false));
        }

        foreach (var (child, isManifest) in children.DistinctBy(c => c.Descriptor.Digest, StringComparer.Ordinal))
        {
            ct.ThrowIfCancellationRequested();
            if (isManifest)
            {
                written += (await CopyAsync(Digest.Parse(child.Digest), source, depth + 1, ct)).BlobsWritten;
            }
            else if (!await MatchesAsync(child, ct))
            {
                var blob = BlobPath(Digest.Parse(child.Digest));
                if (source is null)
                {
                    throw File.Exists(blob)
                        ? ImageErrors.StoreCorrupt(Directory, $"the blob {blob} does not match its digest {child.Digest}")
                        : ImageErrors.StoreCorrupt(Directory, $"the blob {child.Digest} of the image {digest} is missing");
                }

                await using var input = DigestVerifyingStream.ForDescriptor(await source.OpenBlobAsync(child, ct), child);
                await AtomicFile.WriteAsync(blob, (output, token) => input.CopyToAsync(output, 1 << 17, token), overwrite: true, ct);
                written++;
            }
        }

        // The manifest last: a store that has it has all its blobs, whatever stopped a copy half-way.
        if (fresh is not null)
        {
            AtomicFile.WriteAllBytes(path, fresh, overwrite: true);
            written++;
        }

        return (mediaType, bytes.LongLength, written);
    }

    // A blob already here counts only when its size and digest both match: dedupe must never keep a damaged copy.
    private async Task<bool> MatchesAsync(Descriptor descriptor, CancellationToken ct)
    {
        var file = new FileInfo(BlobPath(Digest.Parse(descriptor.Digest)));
        if (!file.Exists || file.Length != descriptor.Size)
        {
            return false;
        }

        await using var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        using var hash = System.Security.Cryptography.SHA256.Create();
        return Digest.FromHash(await hash.ComputeHashAsync(stream, ct)).Value == descriptor.Digest;
    }

    private async Task MarkAsync(Digest digest, HashSet<string> used, int depth, CancellationToken ct)
    {
        var path = BlobPath(digest);
        if (!used.Add(digest.Value) || depth > 4 || !File.Exists(path))
        {
            return;
        }

        var bytes = await File.ReadAllBytesAsync(path, ct);
        var mediaType = ImageJson.SniffMediaType(bytes, null);
        try
        {
            if (MediaTypes.IsIndex(mediaType))
            {
                foreach (var child in ImageJson.ParseIndex(bytes, path).Manifests)
                {
                    await MarkAsync(Digest.Parse(child.Digest), used, depth + 1, ct);
                }
            }
            else
            {
                var manifest = ImageJson.ParseManifest(bytes, path);
                used.UnionWith(manifest.Layers.Prepend(manifest.Config).Select(d => d.Digest));
            }
        }
        catch (ImmutableBuildException e)
        {
            throw ImageErrors.StoreCorrupt(Directory, $"the kept manifest {path} cannot be read ({e.Message})");
        }
    }

    private async Task<FileLock> LockAsync(CancellationToken ct)
    {
        PrivateFiles.CreateDirectory(Directory);
        var path = Path.Combine(Directory, ".lock");
        return await FileLock.AcquireAsync(path, LockTimeout, _time, ct) ?? throw ImageErrors.StoreLocked(Directory, path, LockTimeout);
    }

    private void EnsureLayout()
    {
        PrivateFiles.CreateDirectory(Blobs);
        PrivateFiles.CreateDirectory(Holds);
        var layoutFile = Path.Combine(Directory, "oci-layout");
        if (!File.Exists(layoutFile))
        {
            AtomicFile.WriteAllBytes(layoutFile, JsonSerializer.SerializeToUtf8Bytes(new OciLayoutFile("1.0.0"), ImageJson.Context.OciLayoutFile));
        }
    }

    private List<Descriptor> ReadIndex()
    {
        if (!File.Exists(IndexPath))
        {
            return [];
        }

        try
        {
            return ImageJson.ParseIndex(File.ReadAllBytes(IndexPath), IndexPath).Manifests.ToList();
        }
        catch (ImmutableBuildException e)
        {
            throw ImageErrors.StoreCorrupt(Directory, $"{IndexPath} cannot be read ({e.Message})");
        }
    }

    private void WriteIndex(IEnumerable<Descriptor> entries) =>
        AtomicFile.WriteAllBytes(IndexPath, ImageJson.Serialize(new ImageIndex { MediaType = MediaTypes.OciIndex, Manifests = entries.OrderBy(d => d.Digest, StringComparer.Ordinal).ToList() }));

    private HashSet<string> ReadHeld(string path)
    {
        var held = new HashSet<string>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return held;
        }

        foreach (var line in File.ReadAllLines(path).Where(l => l.Length > 0))
        {
            held.Add(Digest.TryParse(line, out var d) ? d.Value : throw ImageErrors.StoreCorrupt(Directory, $"{path} holds '{line}', which is not a digest"));
        }

        return held;
    }

    private static void WriteHeld(string path, IEnumerable<string> digests) =>
        AtomicFile.WriteAllText(path, string.Concat(digests.Select(d => Digest.Parse(d).Value).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(d => d + "\n")));

    // A lease's holder keeps its file locked; one that can be taken was left by a process that died, so it goes.
    private static string? LeasedDigest(string path)
    {
        var name = Path.GetFileName(path)[..^LeaseSuffix.Length];
        var parts = name.Split('.');
        var digest = parts.Length >= 3 && Digest.TryParse("sha256:" + parts[^2], out var d) ? d.Value : null;
        using var abandoned = FileLock.TryAcquire(path);
        if (abandoned is null)
        {
            return digest;
        }

        File.Delete(path);
        return null;
    }

    private string HeldPath(string holder) => Path.Combine(Holds, holder + HeldSuffix);

    private string BlobPath(Digest digest) => Path.Combine(Blobs, digest.Hex);

    private static string Checked(string holder)
    {
        ArgumentException.ThrowIfNullOrEmpty(holder);
        return holder.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && !holder.StartsWith('.')
            ? holder
            : throw new ArgumentException($"'{holder}' is not a holder name (letters, digits, - _ .).", nameof(holder));
    }
}

/// <summary>Holds an image in an <see cref="ImageStore"/> until disposed (the holder's own hold stays).</summary>
public sealed class ImageStoreLease : IDisposable
{
    private readonly FileLock _lock;

    internal ImageStoreLease(Digest digest, int blobsWritten, FileLock held)
    {
        Digest = digest;
        BlobsWritten = blobsWritten;
        _lock = held;
    }

    /// <summary>The image held.</summary>
    public Digest Digest { get; }

    /// <summary>How many blobs the keep copied in (0: the store had them all).</summary>
    public int BlobsWritten { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        _lock.Dispose();
        try
        {
            File.Delete(_lock.Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left behind, the unlocked lease is cleared by the next prune.
        }
    }
}
