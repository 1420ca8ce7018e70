namespace Immutable.Build.Images;

/// <summary>Where a base image comes from: scratch, an OCI image layout on disk, or a registry.</summary>
public interface IBaseImageSource
{
    /// <summary>How the base is named in messages and release records.</summary>
    string Name { get; }

    /// <summary>Reads the base's manifest and config for the wanted platform. Layer blobs are not read.</summary>
    Task<BaseImage> ResolveAsync(CancellationToken cancellationToken = default);
}

/// <summary>
/// The registry side of a registry-hosted base image: the registry client implements it for one registry.
/// </summary>
public interface IManifestFetcher
{
    /// <summary>Fetches a manifest or index by tag or digest, with the media type the registry reported.</summary>
    Task<(byte[] Content, string MediaType)> GetManifestAsync(string repository, string reference, CancellationToken ct);

    /// <summary>Fetches a small blob (a config) whole.</summary>
    Task<byte[]> GetBlobAsync(string repository, Digest digest, CancellationToken ct);

    /// <summary>Opens a blob (a layer) as a stream.</summary>
    Task<Stream> OpenBlobAsync(string repository, Digest digest, CancellationToken ct);
}

/// <summary>A resolved base image: its config and layer descriptors, and how to read a layer when needed.</summary>
public sealed record BaseImage
{
    /// <summary>The base as named by its source, e.g. <c>scratch</c> or <c>127.0.0.1:5000/base/dotnet:10.0</c>.</summary>
    public required string Name { get; init; }

    /// <summary>The registry repository that holds the layers, for cross-repository mounts; null when not in a registry.</summary>
    public string? Repository { get; init; }

    /// <summary>Digest of the platform-specific manifest; null for scratch.</summary>
    public Digest? ManifestDigest { get; init; }

    /// <summary>Digest of the index the manifest was picked from, if it came from one.</summary>
    public Digest? IndexDigest { get; init; }

    /// <summary>Media type of the platform-specific manifest; null for scratch.</summary>
    public string? ManifestMediaType { get; init; }

    /// <summary>The platform asked for.</summary>
    public required Platform Platform { get; init; }

    /// <summary>The base config, unknown fields included.</summary>
    public required ImageConfig Config { get; init; }

    /// <summary>The base layers, bottom first, as its manifest lists them.</summary>
    public IReadOnlyList<Descriptor> Layers { get; init; } = [];

    /// <summary>
    /// Opens a base layer. The stream fetches nothing until first read, so assembling an image that is
    /// pushed by cross-repository mount never downloads the base.
    /// </summary>
    public Func<Descriptor, Stream> OpenLayer { get; init; } = d => throw ImageErrors.BlobUnavailable(d.Digest);

    /// <summary><c>name@digest</c> when the digest is known, else the name.</summary>
    public string PinnedName => ManifestDigest is { } d ? $"{StripDigest(Name)}@{d}" : Name;

    private static string StripDigest(string name) => name.IndexOf('@', StringComparison.Ordinal) is var at and >= 0 ? name[..at] : name;
}
