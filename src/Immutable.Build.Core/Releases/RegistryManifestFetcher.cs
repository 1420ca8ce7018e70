using Immutable.Build.Images;
using Immutable.Build.Registry;

namespace Immutable.Build.Releases;

/// <summary>Lets a base image be read from a registry through <see cref="RegistryClient"/>.</summary>
internal sealed class RegistryManifestFetcher(RegistryClient client) : IManifestFetcher
{
    public async Task<(byte[] Content, string MediaType)> GetManifestAsync(string repository, string reference, CancellationToken ct)
    {
        var manifest = await client.GetManifestAsync(repository, reference, ct);
        return (manifest.Content, manifest.MediaType);
    }

    public Task<byte[]> GetBlobAsync(string repository, Digest digest, CancellationToken ct) => client.GetBlobBytesAsync(repository, digest, cancellationToken: ct);

    public Task<Stream> OpenBlobAsync(string repository, Digest digest, CancellationToken ct) => client.GetBlobAsync(repository, digest, ct);
}
