namespace Immutable.Build.Images;

/// <summary>
/// Where <see cref="ImageUnpacker"/> reads an image from, always by digest: an OCI layout here, a registry
/// repository (RegistryImageSource, one layer up). Every read is checked against the digest it was asked for.
/// </summary>
public interface IImageSource : IDisposable
{
    /// <summary>Names the source in messages, e.g. <c>oci:/path/to/layout</c> or <c>registry/repository</c>.</summary>
    string Name { get; }

    /// <summary>The manifest or index stored under <paramref name="digest"/>, its bytes verified.</summary>
    Task<byte[]> ReadManifestAsync(Digest digest, CancellationToken cancellationToken);

    /// <summary>A small blob (a config) in memory, verified against <paramref name="descriptor"/>.</summary>
    Task<byte[]> ReadBlobAsync(Descriptor descriptor, CancellationToken cancellationToken);

    /// <summary>A blob as a stream that checks size and digest when it is read to its end.</summary>
    Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken);
}
