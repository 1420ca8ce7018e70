using System.Text.Json;
using System.Text.Json.Serialization;

namespace Immutable.Build.Images;

/// <summary>
/// An image config: every field of the OCI image config spec plus Docker's Healthcheck. Fields of a base
/// config that are not modelled (Docker's container_config, Hostname, OnBuild...) are kept in
/// <see cref="Extra"/> at each level and written back after the modelled ones, so building on a base
/// never drops what its config says.
/// </summary>
public sealed record ImageConfig
{
    /// <summary>RFC 3339 creation time.</summary>
    [JsonPropertyName("created")]
    public string? Created { get; init; }

    /// <summary>Who made the image.</summary>
    [JsonPropertyName("author")]
    public string? Author { get; init; }

    /// <summary>CPU architecture (GOARCH values: amd64, arm64, ...).</summary>
    [JsonPropertyName("architecture")]
    public string Architecture { get; init; } = "";

    /// <summary>Operating system (GOOS values: linux, windows).</summary>
    [JsonPropertyName("os")]
    public string Os { get; init; } = "";

    /// <summary>Operating system version (Windows).</summary>
    [JsonPropertyName("os.version")]
    public string? OsVersion { get; init; }

    /// <summary>Required OS features (Windows).</summary>
    [JsonPropertyName("os.features")]
    public IReadOnlyList<string>? OsFeatures { get; init; }

    /// <summary>CPU variant, e.g. v8 for arm64.</summary>
    [JsonPropertyName("variant")]
    public string? Variant { get; init; }

    /// <summary>How a container of the image runs.</summary>
    [JsonPropertyName("config")]
    public ContainerConfig? Config { get; init; }

    /// <summary>The layers' diff IDs.</summary>
    [JsonPropertyName("rootfs")]
    public RootFs RootFs { get; init; } = new();

    /// <summary>One entry per layer plus empty-layer entries.</summary>
    [JsonPropertyName("history")]
    public IReadOnlyList<HistoryEntry>? History { get; init; }

    /// <summary>Fields this model does not name, kept as read.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>The <c>config</c> object of an image config.</summary>
public sealed record ContainerConfig
{
    /// <summary>User (name or uid, optionally :group).</summary>
    [JsonPropertyName("User")]
    public string? User { get; init; }

    /// <summary>Ports as <c>port/proto</c> keys mapping to empty objects.</summary>
    [JsonPropertyName("ExposedPorts")]
    public IReadOnlyDictionary<string, EmptyObject>? ExposedPorts { get; init; }

    /// <summary><c>NAME=value</c> entries.</summary>
    [JsonPropertyName("Env")]
    public IReadOnlyList<string>? Env { get; init; }

    /// <summary>The entrypoint.</summary>
    [JsonPropertyName("Entrypoint")]
    public IReadOnlyList<string>? Entrypoint { get; init; }

    /// <summary>Default arguments (or the command without an entrypoint).</summary>
    [JsonPropertyName("Cmd")]
    public IReadOnlyList<string>? Cmd { get; init; }

    /// <summary>Volume paths mapping to empty objects.</summary>
    [JsonPropertyName("Volumes")]
    public IReadOnlyDictionary<string, EmptyObject>? Volumes { get; init; }

    /// <summary>Working directory.</summary>
    [JsonPropertyName("WorkingDir")]
    public string? WorkingDir { get; init; }

    /// <summary>Labels.</summary>
    [JsonPropertyName("Labels")]
    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    /// <summary>Signal that stops the container, e.g. SIGTERM.</summary>
    [JsonPropertyName("StopSignal")]
    public string? StopSignal { get; init; }

    /// <summary>Windows-only: the command line is already escaped.</summary>
    [JsonPropertyName("ArgsEscaped")]
    public bool? ArgsEscaped { get; init; }

    /// <summary>Docker's health check.</summary>
    [JsonPropertyName("Healthcheck")]
    public HealthConfig? Healthcheck { get; init; }

    /// <summary>Fields this model does not name, kept as read.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>Docker's health check; durations are nanoseconds.</summary>
public sealed record HealthConfig
{
    /// <summary>["NONE"], ["CMD", args...] or ["CMD-SHELL", command].</summary>
    [JsonPropertyName("Test")]
    public IReadOnlyList<string>? Test { get; init; }

    /// <summary>Time between checks, in nanoseconds.</summary>
    [JsonPropertyName("Interval")]
    public long? Interval { get; init; }

    /// <summary>Time a check may take, in nanoseconds.</summary>
    [JsonPropertyName("Timeout")]
    public long? Timeout { get; init; }

    /// <summary>Grace period after start, in nanoseconds.</summary>
    [JsonPropertyName("StartPeriod")]
    public long? StartPeriod { get; init; }

    /// <summary>Time between checks during the start period, in nanoseconds.</summary>
    [JsonPropertyName("StartInterval")]
    public long? StartInterval { get; init; }

    /// <summary>Failures before unhealthy.</summary>
    [JsonPropertyName("Retries")]
    public int? Retries { get; init; }

    /// <summary>Fields this model does not name, kept as read.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>The <c>rootfs</c> object: the diff IDs of the layers, base first.</summary>
public sealed record RootFs
{
    /// <summary>Always "layers".</summary>
    [JsonPropertyName("type")]
    public string Type { get; init; } = "layers";

    /// <summary>SHA-256 of each uncompressed layer.</summary>
    [JsonPropertyName("diff_ids")]
    public IReadOnlyList<string> DiffIds { get; init; } = [];

    /// <summary>Fields this model does not name, kept as read.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>One history entry.</summary>
public sealed record HistoryEntry
{
    /// <summary>RFC 3339 time.</summary>
    [JsonPropertyName("created")]
    public string? Created { get; init; }

    /// <summary>The command that made the layer.</summary>
    [JsonPropertyName("created_by")]
    public string? CreatedBy { get; init; }

    /// <summary>Author.</summary>
    [JsonPropertyName("author")]
    public string? Author { get; init; }

    /// <summary>Free text.</summary>
    [JsonPropertyName("comment")]
    public string? Comment { get; init; }

    /// <summary>True when the entry made no layer.</summary>
    [JsonPropertyName("empty_layer")]
    public bool? EmptyLayer { get; init; }

    /// <summary>Fields this model does not name, kept as read.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>The <c>{}</c> values of ExposedPorts and Volumes.</summary>
public sealed class EmptyObject
{
    /// <summary>The one value there is.</summary>
    public static EmptyObject Instance { get; } = new();
}
