namespace Immutable.Build.Images;

/// <summary>One file of a layer: where it is on disk and where it goes in the image.</summary>
/// <param name="SourcePath">Absolute path of a file, symlink or directory on disk (a directory adds only itself).</param>
/// <param name="PathInImage">Path inside the image, e.g. <c>app/HelloImmutable.dll</c>; a leading '/' is dropped.</param>
public sealed record LayerFile(string SourcePath, string PathInImage);

/// <summary>What goes into one layer.</summary>
/// <param name="Name">A short name for history and logs, e.g. <c>packages</c>, <c>project-references</c>, <c>app</c>.</param>
/// <param name="Files">The layer's files, in any order.</param>
/// <param name="Timestamp">The mtime of every entry (whole seconds); the commit time keeps layers reproducible.</param>
public sealed record LayerSpec(string Name, IReadOnlyList<LayerFile> Files, DateTimeOffset Timestamp);

/// <summary>A finished, gzip-compressed layer in the layer cache.</summary>
/// <param name="Name">The name of the spec it was built from.</param>
/// <param name="Path">The compressed layer file.</param>
/// <param name="Digest">SHA-256 of the compressed bytes (what manifests name).</param>
/// <param name="DiffId">SHA-256 of the uncompressed tar (what the config's rootfs names).</param>
/// <param name="Size">Compressed size in bytes.</param>
/// <param name="MediaType">The OCI media type of the compressed layer.</param>
/// <param name="FileCount">Entries that came from the spec (files, symlinks, listed directories), not implied parents.</param>
/// <param name="UncompressedSize">Length of the tar.</param>
/// <param name="Reused">True when the layer came from the cache without being written again.</param>
public sealed record BuiltLayer(
    string Name,
    string Path,
    Digest Digest,
    Digest DiffId,
    long Size,
    string MediaType,
    int FileCount,
    long UncompressedSize,
    bool Reused)
{
    /// <summary>A layer with nothing from its spec; the assembler leaves such layers out of the image.</summary>
    public bool IsEmpty => FileCount == 0;

    /// <summary>The layer's descriptor in an OCI manifest.</summary>
    public Descriptor ToDescriptor() => new(MediaType, Digest.Value, Size);
}
