using Immutable.Build.Images;

namespace Immutable.Build.Registry;

/// <summary>Reads an image by digest from a registry repository, for <see cref="ImageUnpacker"/>.</summary>
public sealed class RegistryImageSource : IImageSource
{
    private readonly RegistryClient _client;
    private readonly string _repository;

    /// <summary>Reads <paramref name="repository"/> through <paramref name="client"/>, which the source owns and disposes.</summary>
    public RegistryImageSource(RegistryClient client, string repository)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(repository);
        _client = client;
        _repository = repository;
    }

    /// <inheritdoc />
    public string Name => $"{_client.Registry}/{_repository}";

    /// <summary>What <see cref="ImageUnpacker"/> needs to read registry references: a client per reference, with <paramref name="options"/>.</summary>
    public static Func<ImageReference, IImageSource> Opener(RegistryClientOptions? options = null) =>
        reference => new RegistryImageSource(new RegistryClient(reference.Registry ?? ImageReference.DockerHub, options), reference.Repository);

    /// <inheritdoc />
    public async Task<byte[]> ReadManifestAsync(Digest digest, CancellationToken cancellationToken) =>
        (await _client.GetManifestAsync(_repository, digest.Value, cancellationToken)).Content;

    /// <inheritdoc />
    public Task<byte[]> ReadBlobAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        _client.GetBlobBytesAsync(_repository, Digest.Parse(descriptor.Digest), cancellationToken: cancellationToken);

    /// <inheritdoc />
    public async Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        DigestVerifyingStream.ForDescriptor(await _client.GetBlobAsync(_repository, Digest.Parse(descriptor.Digest), cancellationToken), descriptor);

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();
}
