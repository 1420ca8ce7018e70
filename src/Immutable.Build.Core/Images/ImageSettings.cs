namespace Immutable.Build.Images;

/// <summary>The manifest format of an assembled image.</summary>
public enum ManifestFormat
{
    /// <summary>OCI image manifest and media types (the default).</summary>
    Oci,

    /// <summary>Docker v2 schema 2 manifest and media types, for registries or tools that want them.</summary>
    Docker,
}

/// <summary>What an image's config and manifest say on top of its base.</summary>
public sealed record ImageSettings
{
    /// <summary>The image's <c>created</c> time and the time of its history entries (the commit time keeps images reproducible).</summary>
    public required DateTimeOffset Created { get; init; }

    /// <summary>OCI (default) or Docker v2.</summary>
    public ManifestFormat Format { get; init; } = ManifestFormat.Oci;

    /// <summary>Replaces the base entrypoint; setting it also clears the base's Cmd unless <see cref="Cmd"/> is set, as in a Dockerfile.</summary>
    public IReadOnlyList<string>? Entrypoint { get; init; }

    /// <summary>Replaces the base Cmd.</summary>
    public IReadOnlyList<string>? Cmd { get; init; }

    /// <summary>Replaces the base working directory.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Replaces the base user.</summary>
    public string? User { get; init; }

    /// <summary>Replaces the base stop signal.</summary>
    public string? StopSignal { get; init; }

    /// <summary>The config's author.</summary>
    public string? Author { get; init; }

    /// <summary>
    /// Variables to set: a name the base already has keeps its position with the new value; new names
    /// are appended in this order. A name given twice keeps the last value.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; } = [];

    /// <summary>Ports to expose, <c>8080</c> (tcp) or <c>8080/udp</c>; added to the base's.</summary>
    public IReadOnlyList<string> ExposedPorts { get; init; } = [];

    /// <summary>Labels to add or override.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>Manifest annotations (OCI only: a Docker v2 manifest has none).</summary>
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();
}
