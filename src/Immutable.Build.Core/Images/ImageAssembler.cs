using System.Globalization;

namespace Immutable.Build.Images;

/// <summary>One layer of an assembled image.</summary>
/// <param name="Name">"base" for base layers, else the layer spec's name.</param>
/// <param name="Descriptor">As written in the manifest (media type converted to the manifest's format).</param>
/// <param name="DiffId">The uncompressed digest, as in the config's rootfs.</param>
/// <param name="IsBase">True for layers of the base image.</param>
public sealed record ImageLayer(string Name, Descriptor Descriptor, string DiffId, bool IsBase);

/// <summary>An assembled image: what a pusher or writer needs, plus what a release record wants to say about it.</summary>
/// <param name="Content">Manifest bytes and blobs, for the registry pusher and the writers.</param>
/// <param name="Manifest">The manifest that <see cref="ImageContent.Manifest"/> serialises.</param>
/// <param name="Config">The merged config.</param>
/// <param name="ConfigBytes">The config blob.</param>
/// <param name="Layers">Every layer, base first.</param>
/// <param name="Base">The base image it was built on.</param>
public sealed record AssembledImage(
    ImageContent Content,
    ImageManifest Manifest,
    ImageConfig Config,
    byte[] ConfigBytes,
    IReadOnlyList<ImageLayer> Layers,
    BaseImage Base)
{
    /// <summary>The manifest digest: the image's identity.</summary>
    public Digest Digest => Content.Digest;

    /// <summary>The config digest (Docker's image ID).</summary>
    public Digest ConfigDigest => Digest.Parse(Content.Config.Descriptor.Digest);

    /// <summary>The base's platform-specific manifest digest; null for scratch.</summary>
    public Digest? BaseDigest => Base.ManifestDigest;
}

/// <summary>
/// Puts a base image, built layers and settings together into a manifest and config. Pure: the same
/// inputs give the same bytes, and nothing is read from disk or network (base layers stay unopened).
/// </summary>
public static class ImageAssembler
{
    /// <summary>What history entries of our layers say they were created by.</summary>
    public const string CreatedBy = "Immutable.Build";

    /// <summary>Resolves <paramref name="baseSource"/>, then assembles.</summary>
    public static async Task<AssembledImage> AssembleAsync(IBaseImageSource baseSource, IReadOnlyList<BuiltLayer> layers, ImageSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(baseSource);
        var baseImage = await baseSource.ResolveAsync(cancellationToken);
        return Assemble(baseImage, layers, settings);
    }

    /// <summary>Assembles an image from a resolved base; empty layers are left out.</summary>
    public static AssembledImage Assemble(BaseImage baseImage, IReadOnlyList<BuiltLayer> layers, ImageSettings settings)
    {
        ArgumentNullException.ThrowIfNull(baseImage);
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(settings);
        var created = FormatTime(settings.Created);
        var docker = settings.Format == ManifestFormat.Docker;
        var baseConfig = baseImage.Config;
        if (baseConfig.RootFs.DiffIds.Count != baseImage.Layers.Count)
        {
            throw ImageErrors.BadDocument($"The base image {baseImage.Name}",
                $"its config lists {baseConfig.RootFs.DiffIds.Count} diff_ids but its manifest {baseImage.Layers.Count} layers");
        }

        var ours = layers.Where(l => !l.IsEmpty).ToList();
        var imageLayers = new List<ImageLayer>();
        var blobs = new List<BlobContent>();
        for (var i = 0; i < baseImage.Layers.Count; i++)
        {
            var layer = baseImage.Layers[i];
            var mediaType = (docker ? MediaTypes.ToDockerLayer(layer.MediaType) : MediaTypes.ToOciLayer(layer.MediaType))
                ?? throw ImageErrors.UnconvertibleLayer(layer.MediaType, docker ? "Docker v2" : "OCI");
            // The base layer's annotations and size are kept; only the media type follows the format.
            var descriptor = layer with { MediaType = mediaType, Platform = null };
            imageLayers.Add(new ImageLayer("base", descriptor, baseConfig.RootFs.DiffIds[i], IsBase: true));
            blobs.Add(new BlobContent(descriptor, () => baseImage.OpenLayer(layer), baseImage.Repository));
        }

        foreach (var layer in ours)
        {
            var descriptor = new Descriptor(docker ? MediaTypes.DockerLayerGzip : MediaTypes.OciLayerGzip, layer.Digest.Value, layer.Size);
            imageLayers.Add(new ImageLayer(layer.Name, descriptor, layer.DiffId.Value, IsBase: false));
            var path = layer.Path;
            blobs.Add(new BlobContent(descriptor, () => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan)));
        }

        var history = (baseConfig.History ?? []).ToList();
        history.AddRange(ours.Select(l => new HistoryEntry
        {
            Created = created,
            CreatedBy = CreatedBy,
            Comment = $"Immutable.Build: {l.Name} layer",
        }));

        var config = baseConfig with
        {
            Created = created,
            Author = settings.Author ?? baseConfig.Author,
            Config = MergeContainerConfig(baseConfig.Config ?? new ContainerConfig(), settings),
            RootFs = baseConfig.RootFs with { DiffIds = imageLayers.Select(l => l.DiffId).ToList() },
            History = history.Count == 0 ? null : history,
        };
        var configBytes = ImageJson.Serialize(config);
        var configDescriptor = new Descriptor(docker ? MediaTypes.DockerConfig : MediaTypes.OciConfig, Digest.Of(configBytes).Value, configBytes.LongLength);

        var manifest = new ImageManifest
        {
            MediaType = docker ? MediaTypes.DockerManifest : MediaTypes.OciManifest,
            Config = configDescriptor,
            Layers = imageLayers.Select(l => l.Descriptor).ToList(),
            Annotations = docker || settings.Annotations.Count == 0 ? null : Sorted(settings.Annotations),
        };
        var manifestBytes = ImageJson.Serialize(manifest);
        var content = new ImageContent(
            manifestBytes,
            manifest.MediaType,
            new BlobContent(configDescriptor, () => new MemoryStream(configBytes, writable: false)),
            blobs);
        return new AssembledImage(content, manifest, config, configBytes, imageLayers, baseImage);
    }

    /// <summary>RFC 3339 in UTC, whole seconds, with 'Z': the form every image tool reads.</summary>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// Applies environment overrides: a name already present keeps its place with the new value, new
    /// names are appended in order, and entries without '=' in the base are kept as they are.
    /// </summary>
    public static IReadOnlyList<string> MergeEnvironment(IReadOnlyList<string>? baseEnv, IReadOnlyList<KeyValuePair<string, string>> overrides)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        var result = (baseEnv ?? []).ToList();
        foreach (var (name, value) in overrides)
        {
            if (string.IsNullOrEmpty(name) || name.Contains('=', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
            {
                throw ImageErrors.InvalidSetting("Environment variable name", name ?? "", "a non-empty name without '='");
            }

            var entry = $"{name}={value}";
            var at = result.FindIndex(e => e.StartsWith(name + "=", StringComparison.Ordinal));
            if (at >= 0)
            {
                result[at] = entry;
            }
            else
            {
                result.Add(entry);
            }
        }

        return result;
    }

    private static ContainerConfig MergeContainerConfig(ContainerConfig baseConfig, ImageSettings settings)
    {
        var env = MergeEnvironment(baseConfig.Env, settings.Environment);
        return baseConfig with
        {
            Entrypoint = settings.Entrypoint?.ToList() ?? baseConfig.Entrypoint,
            Cmd = settings.Cmd?.ToList() ?? (settings.Entrypoint is null ? baseConfig.Cmd : null),
            WorkingDir = settings.WorkingDirectory ?? baseConfig.WorkingDir,
            User = settings.User ?? baseConfig.User,
            StopSignal = settings.StopSignal ?? baseConfig.StopSignal,
            Env = env.Count == 0 ? baseConfig.Env : env,
            ExposedPorts = MergePorts(baseConfig.ExposedPorts, settings.ExposedPorts),
            Labels = MergeLabels(baseConfig.Labels, settings.Labels),
        };
    }

    private static IReadOnlyDictionary<string, EmptyObject>? MergePorts(IReadOnlyDictionary<string, EmptyObject>? basePorts, IReadOnlyList<string> ports)
    {
        if (ports.Count == 0)
        {
            return basePorts;
        }

        var merged = new SortedDictionary<string, EmptyObject>(StringComparer.Ordinal);
        foreach (var key in basePorts?.Keys ?? [])
        {
            merged[key] = EmptyObject.Instance;
        }

        foreach (var port in ports)
        {
            merged[NormalizePort(port)] = EmptyObject.Instance;
        }

        return merged;
    }

    /// <summary><c>8080</c> is <c>8080/tcp</c>; protocols are tcp, udp and sctp.</summary>
    internal static string NormalizePort(string port)
    {
        var text = port?.Trim() ?? "";
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var number = slash < 0 ? text : text[..slash];
        var protocol = slash < 0 ? "tcp" : text[(slash + 1)..].ToLowerInvariant();
        if (!int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n is < 1 or > 65535 || protocol is not ("tcp" or "udp" or "sctp"))
        {
            throw ImageErrors.InvalidSetting("Port", port ?? "", "a port number from 1 to 65535, optionally followed by /tcp, /udp or /sctp");
        }

        return $"{n.ToString(CultureInfo.InvariantCulture)}/{protocol}";
    }

    private static IReadOnlyDictionary<string, string>? MergeLabels(IReadOnlyDictionary<string, string>? baseLabels, IReadOnlyDictionary<string, string> labels)
    {
        if (labels.Count == 0)
        {
            return baseLabels;
        }

        var merged = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in baseLabels ?? new Dictionary<string, string>())
        {
            merged[k] = v;
        }

        foreach (var (k, v) in labels)
        {
            if (string.IsNullOrWhiteSpace(k))
            {
                throw ImageErrors.InvalidSetting("Label name", k ?? "", "a non-empty name");
            }

            merged[k] = v ?? "";
        }

        return merged;
    }

    private static SortedDictionary<string, string> Sorted(IReadOnlyDictionary<string, string> values)
    {
        var sorted = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in values)
        {
            sorted[k] = v;
        }

        return sorted;
    }
}
