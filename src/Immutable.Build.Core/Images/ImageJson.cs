using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Immutable.Build.Images;

/// <summary>Source-generated JSON contracts of the image documents; no reflection at run time.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ImageManifest))]
[JsonSerializable(typeof(ImageIndex))]
[JsonSerializable(typeof(ImageConfig))]
[JsonSerializable(typeof(OciLayoutFile))]
[JsonSerializable(typeof(IReadOnlyList<DockerArchiveManifestEntry>))]
[JsonSerializable(typeof(LayerCacheEntry))]
internal sealed partial class ImagesJsonContext : JsonSerializerContext;

/// <summary>The <c>oci-layout</c> file.</summary>
internal sealed record OciLayoutFile([property: JsonPropertyName("imageLayoutVersion")] string ImageLayoutVersion);

/// <summary>One image in a docker-archive's manifest.json.</summary>
internal sealed record DockerArchiveManifestEntry(
    [property: JsonPropertyName("Config")] string Config,
    [property: JsonPropertyName("RepoTags")] IReadOnlyList<string> RepoTags,
    [property: JsonPropertyName("Layers")] IReadOnlyList<string> Layers);

/// <summary>
/// Reads and writes manifests, indexes and configs. Output is compact, nulls are left out, properties come
/// in declaration order, and only what JSON requires is escaped ('+' in media types stays '+'), so the
/// same document always gives the same bytes and digest.
/// </summary>
public static class ImageJson
{
    private static readonly ImagesJsonContext Relaxed = new(new JsonSerializerOptions
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
    });

    internal static ImagesJsonContext Context => Relaxed;

    /// <summary>The manifest's bytes.</summary>
    public static byte[] Serialize(ImageManifest manifest) => JsonSerializer.SerializeToUtf8Bytes(manifest, Context.ImageManifest);

    /// <summary>The index's bytes.</summary>
    public static byte[] Serialize(ImageIndex index) => JsonSerializer.SerializeToUtf8Bytes(index, Context.ImageIndex);

    /// <summary>The config's bytes.</summary>
    public static byte[] Serialize(ImageConfig config) => JsonSerializer.SerializeToUtf8Bytes(config, Context.ImageConfig);

    /// <summary>Parses a manifest; throws IMB3010 when it is not one.</summary>
    public static ImageManifest ParseManifest(ReadOnlySpan<byte> json, string what = "The manifest")
    {
        var manifest = Parse(json, Context.ImageManifest, what);
        if (manifest.SchemaVersion != 2 || manifest.Config is null || manifest.Layers is null)
        {
            throw ImageErrors.BadDocument(what, "it is not a schema 2 image manifest (no config or layers)");
        }

        if (manifest.Layers.Prepend(manifest.Config).Any(d => d is null || string.IsNullOrEmpty(d.MediaType) || string.IsNullOrEmpty(d.Digest)))
        {
            throw ImageErrors.BadDocument(what, "a descriptor has no mediaType or digest");
        }

        return manifest;
    }

    /// <summary>Parses an index or manifest list; throws IMB3010 when it is not one.</summary>
    public static ImageIndex ParseIndex(ReadOnlySpan<byte> json, string what = "The index")
    {
        var index = Parse(json, Context.ImageIndex, what);
        if (index.SchemaVersion != 2 || index.Manifests is null)
        {
            throw ImageErrors.BadDocument(what, "it is not a schema 2 image index (no manifests)");
        }

        // mediaType may be missing in entries of older layouts; the document itself tells then.
        if (index.Manifests.Any(m => m is null || string.IsNullOrEmpty(m.Digest)))
        {
            throw ImageErrors.BadDocument(what, "an entry has no digest");
        }

        return index;
    }

    /// <summary>Parses a config, dropping nulls from unmodelled fields (they would be written back as null).</summary>
    public static ImageConfig ParseConfig(ReadOnlySpan<byte> json, string what = "The image config")
    {
        var config = Parse(json, Context.ImageConfig, what);
        StripNulls(config.Extra);
        StripNulls(config.RootFs?.Extra);
        if (config.Config is { } c)
        {
            StripNulls(c.Extra);
            StripNulls(c.Healthcheck?.Extra);
        }

        foreach (var h in config.History ?? [])
        {
            StripNulls(h?.Extra);
        }

        return config with
        {
            RootFs = config.RootFs ?? new RootFs(),
            History = config.History?.Where(h => h is not null).ToList(),
        };
    }

    /// <summary>
    /// The media type a document declares, or what its shape says when it declares none
    /// (an OCI index or manifest may omit mediaType).
    /// </summary>
    public static string SniffMediaType(ReadOnlySpan<byte> json, string? declared)
    {
        if (MediaTypes.IsIndex(declared) || MediaTypes.IsManifest(declared))
        {
            return declared!;
        }

        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String && mt.GetString() is { Length: > 0 } inside)
                {
                    return inside;
                }

                if (root.TryGetProperty("schemaVersion", out var sv) && sv.ValueKind == JsonValueKind.Number && sv.GetInt32() == 1)
                {
                    return "application/vnd.docker.distribution.manifest.v1+json";
                }

                if (root.TryGetProperty("manifests", out _))
                {
                    return MediaTypes.OciIndex;
                }

                if (root.TryGetProperty("config", out _) && root.TryGetProperty("layers", out _))
                {
                    return MediaTypes.OciManifest;
                }
            }
        }
        catch (JsonException)
        {
        }

        return declared ?? "";
    }

    private static T Parse<T>(ReadOnlySpan<byte> json, JsonTypeInfo<T> type, string what)
    {
        try
        {
            return JsonSerializer.Deserialize(json, type) ?? throw ImageErrors.BadDocument(what, "it is JSON null");
        }
        catch (JsonException e)
        {
            throw ImageErrors.BadDocument(what, e.Message, e);
        }
    }

    private static void StripNulls(Dictionary<string, JsonElement>? extra)
    {
        if (extra is null)
        {
            return;
        }

        foreach (var key in extra.Where(kv => kv.Value.ValueKind == JsonValueKind.Null).Select(kv => kv.Key).ToList())
        {
            extra.Remove(key);
        }
    }
}
