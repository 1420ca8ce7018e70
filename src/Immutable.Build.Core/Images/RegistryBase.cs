namespace Immutable.Build.Images;

/// <summary>
/// A base image in a registry, read through <see cref="IManifestFetcher"/>: manifest lists and indexes are
/// resolved to the RID's platform, the config is fetched, and layers are only opened lazily.
/// </summary>
public sealed class RegistryBase : IBaseImageSource
{
    private const int MaxIndexDepth = 4;
    private readonly IManifestFetcher _fetcher;
    private readonly ImageReference _reference;
    private readonly Platform _platform;

    /// <summary>The base <paramref name="reference"/> (tag, digest or both) for <paramref name="rid"/>.</summary>
    public RegistryBase(IManifestFetcher fetcher, ImageReference reference, string rid)
    {
        ArgumentNullException.ThrowIfNull(fetcher);
        ArgumentNullException.ThrowIfNull(reference);
        _fetcher = fetcher;
        _reference = reference;
        _platform = Platforms.FromRuntimeIdentifier(rid);
    }

    /// <inheritdoc />
    public string Name => _reference.ToString();

    /// <inheritdoc />
    public async Task<BaseImage> ResolveAsync(CancellationToken cancellationToken = default)
    {
        var repository = _reference.Repository;
        // A digest pins the content; the tag is then only a label, as in Docker.
        var reference = _reference.Digest ?? _reference.Tag ?? "latest";
        var (bytes, declared) = await _fetcher.GetManifestAsync(repository, reference, cancellationToken);
        var digest = Digest.Of(bytes);
        if (_reference.Digest is not null && digest.Value != _reference.Digest)
        {
            throw ImageErrors.DigestMismatch($"The manifest of {Name}", _reference.Digest, digest.Value);
        }

        var mediaType = ImageJson.SniffMediaType(bytes, declared);
        Digest? indexDigest = null;
        for (var depth = 0; MediaTypes.IsIndex(mediaType); depth++)
        {
            if (depth == MaxIndexDepth)
            {
                throw ImageErrors.BadDocument($"The index of {Name}", "indexes nest too deeply");
            }

            indexDigest ??= digest;
            var index = ImageJson.ParseIndex(bytes, $"The index of {Name}");
            var chosen = Platforms.Select(index, _platform, Name);
            (bytes, declared) = await _fetcher.GetManifestAsync(repository, chosen.Digest, cancellationToken);
            digest = Digest.Of(bytes);
            if (digest.Value != chosen.Digest)
            {
                throw ImageErrors.DigestMismatch($"The {Platforms.Format(_platform)} manifest of {Name}", chosen.Digest, digest.Value);
            }

            mediaType = ImageJson.SniffMediaType(bytes, string.IsNullOrEmpty(declared) ? chosen.MediaType : declared);
        }

        if (!MediaTypes.IsManifest(mediaType))
        {
            throw ImageErrors.BadDocument($"The manifest of {Name}", $"media type '{mediaType}' is not an OCI or Docker v2 schema 2 image manifest");
        }

        var manifest = ImageJson.ParseManifest(bytes, $"The manifest of {Name}");
        var configDigest = Digest.TryParse(manifest.Config.Digest, out var cd)
            ? cd
            : throw ImageErrors.BadDocument($"The manifest of {Name}", $"config digest '{manifest.Config.Digest}' is not sha256");
        var configBytes = await _fetcher.GetBlobAsync(repository, configDigest, cancellationToken);
        var actual = Digest.Of(configBytes);
        if (actual != configDigest)
        {
            throw ImageErrors.DigestMismatch($"The config of {Name}", configDigest.Value, actual.Value);
        }

        var config = ImageJson.ParseConfig(configBytes, $"The config of {Name}");
        Platforms.EnsureConfigMatches(config, _platform, Name);
        return new BaseImage
        {
            Name = Name,
            Repository = repository,
            ManifestDigest = digest,
            IndexDigest = indexDigest,
            ManifestMediaType = mediaType,
            Platform = _platform,
            Config = config,
            Layers = manifest.Layers,
            OpenLayer = d => new LazyReadStream(ct => _fetcher.OpenBlobAsync(repository, Digest.Parse(d.Digest), ct)),
        };
    }
}
