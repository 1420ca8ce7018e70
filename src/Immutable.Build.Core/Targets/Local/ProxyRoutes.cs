using System.Text.Json;
using System.Text.Json.Serialization;

namespace Immutable.Build.Targets.Local;

/// <summary>
/// The routes a standalone proxy (the local host's <c>proxy</c> command, as the Docker target runs it on each host)
/// reads from a file: which group gets which share of traffic, and where each instance listens. The proxy applies a
/// new version atomically and then writes <see cref="ProxyApplied"/>, so a writer knows when old instances stop
/// getting new requests.
/// </summary>
/// <param name="Version">Increases with every write; the proxy acknowledges the version it applied.</param>
/// <param name="Weights">Percent per group (0-100, summing to 100, or empty for no traffic).</param>
/// <param name="Instances">Every routable instance.</param>
public sealed record ProxyRoutes(
    [property: JsonPropertyName("version")] long Version,
    [property: JsonPropertyName("weights")] IReadOnlyDictionary<string, int> Weights,
    [property: JsonPropertyName("instances")] IReadOnlyList<ProxyRoute> Instances)
{
    /// <summary>Serializes the routes.</summary>
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, ProxyJsonContext.Default.ProxyRoutes);

    /// <summary>Parses routes; null when the text is not (yet) complete JSON of this shape.</summary>
    public static ProxyRoutes? TryParse(ReadOnlySpan<byte> json) => ProxyJsonContext.TryParse(json, ProxyJsonContext.Default.ProxyRoutes);
}

/// <summary>One instance behind the proxy.</summary>
/// <param name="Id">The instance id (a container id).</param>
/// <param name="Group">Its group.</param>
/// <param name="Port">Its port on the proxy's own host (loopback).</param>
public sealed record ProxyRoute(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("group")] string Group,
    [property: JsonPropertyName("port")] int Port);

/// <summary>What the proxy writes once it routes by a version.</summary>
/// <param name="Version">The routes version now in effect.</param>
/// <param name="At">When it took effect.</param>
public sealed record ProxyApplied(
    [property: JsonPropertyName("version")] long Version,
    [property: JsonPropertyName("at")] DateTimeOffset At)
{
    /// <summary>Serializes the acknowledgement.</summary>
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, ProxyJsonContext.Default.ProxyApplied);

    /// <summary>Parses an acknowledgement; null when incomplete.</summary>
    public static ProxyApplied? TryParse(ReadOnlySpan<byte> json) => ProxyJsonContext.TryParse(json, ProxyJsonContext.Default.ProxyApplied);
}

[JsonSerializable(typeof(ProxyRoutes))]
[JsonSerializable(typeof(ProxyApplied))]
internal sealed partial class ProxyJsonContext : JsonSerializerContext
{
    // A file read while its writer is still at it does not parse yet: that is "nothing", not an error.
    public static T? TryParse<T>(ReadOnlySpan<byte> json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(json, type);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
