namespace Immutable.Build.Images;

/// <summary>
/// A directory of blobs by digest shared between builds (by default <c>~/.cache/immutable-build/blobs</c>),
/// so base layers fetched from a registry for one build are not downloaded again by the next.
/// </summary>
public sealed class BlobCache
{
    /// <summary>Uses (and creates when needed) <paramref name="directory"/>.</summary>
    public BlobCache(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory = Path.GetFullPath(directory);
    }

    /// <summary>The cache directory; blobs are in its <c>sha256</c> folder.</summary>
    public string Directory { get; }

    /// <summary><c>$XDG_CACHE_HOME/immutable-build/blobs</c>, else <c>~/.cache/immutable-build/blobs</c>.</summary>
    public static string DefaultDirectory
    {
        get
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var root = string.IsNullOrEmpty(xdg)
                ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache")
                : xdg;
            return Path.Combine(root, "immutable-build", "blobs");
        }
    }

    /// <summary>The cached file of <paramref name="digest"/>, whether or not it exists.</summary>
    public string PathOf(Digest digest) => Path.Combine(Directory, "sha256", digest.Hex);

    /// <summary>Whether the blob is cached with the descriptor's size.</summary>
    public bool Contains(Descriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        var file = new FileInfo(PathOf(Digest.Parse(descriptor.Digest)));
        return file.Exists && file.Length == descriptor.Size;
    }

    /// <summary>Copies the blob in (verified) unless it is there, and returns its cached path.</summary>
    internal async Task<string> EnsureAsync(BlobContent blob, CancellationToken ct)
    {
        var path = PathOf(Digest.Parse(blob.Descriptor.Digest));
        if (Contains(blob.Descriptor))
        {
            return path;
        }

        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await BlobFiles.CopyVerifiedAsync(BlobFiles.Open(blob), blob.Descriptor, path, ct);
        return path;
    }
}

/// <summary>Copying blobs into content-addressed directories.</summary>
internal static class BlobFiles
{
    public static Stream Open(BlobContent blob) =>
        blob.Open?.Invoke() ?? throw ImageErrors.BlobUnavailable(blob.Descriptor.Digest);

    /// <summary>
    /// Opens a blob for copying: through the shared cache when it comes from a registry (it has a source
    /// repository), directly otherwise.
    /// </summary>
    public static async Task<Stream> OpenSourceAsync(BlobContent blob, BlobCache? cache, CancellationToken ct) =>
        cache is not null && blob.SourceRepository is not null
            ? new FileStream(await cache.EnsureAsync(blob, ct), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan)
            : Open(blob);

    /// <summary>As <see cref="OpenSourceAsync"/>, with size and digest checked as the stream is read.</summary>
    public static async Task<Stream> OpenVerifiedAsync(BlobContent blob, BlobCache? cache, CancellationToken ct) =>
        DigestVerifyingStream.ForDescriptor(await OpenSourceAsync(blob, cache, ct), blob.Descriptor);

    /// <summary>
    /// Writes <paramref name="source"/> to <paramref name="path"/> through a temporary file, verifying it first. A
    /// file already there is kept: the name is the content's digest, so whoever wrote it first wrote the same bytes.
    /// </summary>
    public static async Task CopyVerifiedAsync(Stream source, Descriptor descriptor, string path, CancellationToken ct)
    {
        await using var input = DigestVerifyingStream.ForDescriptor(source, descriptor);
        await AtomicFile.WriteAsync(path, (output, token) => input.CopyToAsync(output, 1 << 17, token), overwrite: false, ct);
    }
}
