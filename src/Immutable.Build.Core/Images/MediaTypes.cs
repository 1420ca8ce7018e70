namespace Immutable.Build.Images;

/// <summary>The media types of the OCI image spec and their Docker v2 equivalents.</summary>
public static class MediaTypes
{
    /// <summary>OCI image manifest.</summary>
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";

    /// <summary>OCI image index (multi-platform).</summary>
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";

    /// <summary>OCI image config.</summary>
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";

    /// <summary>OCI gzip layer.</summary>
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";

    /// <summary>OCI uncompressed layer.</summary>
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";

    /// <summary>Docker v2 schema 2 manifest.</summary>
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

    /// <summary>Docker manifest list (multi-platform).</summary>
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    /// <summary>Docker image config.</summary>
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";

    /// <summary>Docker gzip layer.</summary>
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// <summary>OCI zstd layer (no Docker v2 equivalent).</summary>
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";

    /// <summary>Docker uncompressed layer.</summary>
    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar";

    /// <summary>
    /// The Docker v2 media type of a layer; the bytes stay the same. Null when Docker v2 has no
    /// equivalent (zstd, foreign or unknown layers).
    /// </summary>
    public static string? ToDockerLayer(string mediaType) => mediaType switch
    {
        OciLayerGzip or DockerLayerGzip => DockerLayerGzip,
        OciLayer or DockerLayer => DockerLayer,
        _ => null,
    };

    /// <summary>
    /// The OCI media type of a layer; the bytes stay the same. OCI layer types (zstd included) are
    /// kept; null for types OCI has no equivalent for.
    /// </summary>
    public static string? ToOciLayer(string mediaType) => mediaType switch
    {
        DockerLayerGzip => OciLayerGzip,
        DockerLayer => OciLayer,
        _ when mediaType.StartsWith("application/vnd.oci.image.layer.", StringComparison.Ordinal) => mediaType,
        _ => null,
    };

    /// <summary>True for an index or manifest list.</summary>
    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    /// <summary>True for a single-image manifest.</summary>
    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;
}
