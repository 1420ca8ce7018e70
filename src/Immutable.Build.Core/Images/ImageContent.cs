namespace Immutable.Build.Images;

/// <summary>One blob of an image to push: its descriptor and how to read it.</summary>
/// <param name="Descriptor">Digest, size and media type.</param>
/// <param name="Open">Opens the blob's bytes; null for a blob that is only known to exist in <paramref name="SourceRepository"/>.</param>
/// <param name="SourceRepository">A repository in the same registry that already has the blob (a base image), for a cross-repository mount.</param>
public sealed record BlobContent(Descriptor Descriptor, Func<Stream>? Open, string? SourceRepository = null);

/// <summary>A finished image, ready to push or write: its manifest bytes plus the config and layer blobs.</summary>
public sealed record ImageContent(byte[] Manifest, string ManifestMediaType, BlobContent Config, IReadOnlyList<BlobContent> Layers)
{
    /// <summary>The manifest digest: the image's identity.</summary>
    public Digest Digest { get; } = Digest.Of(Manifest);
}
