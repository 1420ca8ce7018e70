using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Immutable.Build.Images;
using Immutable.Build.Registry;
using Immutable.Build.Versioning;

namespace Immutable.Build.Releases;

/// <summary>
/// The no-op rerun: when the commit, the publish output (paths, sizes, times) and every setting are
/// what the last successful release of this project saw, and its tags still point at its digest, the
/// release is adopted with no image work at all: one registry HEAD per tag (or a look at the layout's
/// index), then the recorded release.json is written back. Anything else takes the full path, which
/// is always correct; this only skips work whose result is already known. A base tag that moved since
/// does not matter here: the release of this commit exists, and a rebuild could only be refused.
/// </summary>
internal static class ReleaseShortcut
{
    private const string FileName = "last-release.json";

    /// <summary>
    /// Files up to this size are recorded with their hash, which settles one rewritten with the same bytes (web.config
    /// on every publish). A bigger one is recorded by size and time only: hashing it would read it all again on every
    /// publish, and a big file rewritten unchanged is rare enough to take the full path, which is always right.
    /// </summary>
    private const long HashedFileLimit = 4 << 20;

    /// <summary>The fingerprint of the commit and the settings, or null when no shortcut may be taken; the publish files are compared one by one.</summary>
    public static string? Fingerprint(ReleaseRequest request, SourceRevision revision)
    {
        if (revision.IsDirty)
        {
            return null; // uncommitted content can change without changing sizes or times
        }

        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"v1\n{revision.Commit}\n{revision.CommitTime.ToUnixTimeSeconds()}\n{revision.RepositoryUrl}\n{ReleaseManifestBuilder.ToolVersion}\n");
        // The SDK's created labels carry the wall clock; the image replaces them with the commit time.
        var labels = request.Labels.Where(l => !l.Key.EndsWith(".created", StringComparison.Ordinal)).ToList();
        var settings = request with { EnvironmentVariables = null, ProjectDirectory = "", PublishDirectory = "", OutputDirectory = "", LayerCacheDirectory = "", Labels = labels };
        text.Append(JsonSerializer.Serialize(settings, ReleaseRequestJson.Default.ReleaseRequest)).Append('\n');
        text.Append(ReleasePipeline.EnvironmentReader(request)("SOURCE_DATE_EPOCH")).Append('\n');
        if (!Directory.Exists(Path.GetFullPath(request.PublishDirectory)))
        {
            return null;
        }

        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()))).ToLowerInvariant();
    }

    /// <summary>Adopts the recorded release when it still holds; null means: take the full path.</summary>
    public static async Task<ReleaseResult?> TryAdoptAsync(ReleaseRequest request, string fingerprint, string manifestPath, Func<string, string?> getEnv, ReleaseLog log, CancellationToken cancellationToken)
    {
        var record = Path.Combine(request.LayerCacheDirectory, FileName);
        if (!File.Exists(record))
        {
            return null;
        }

        ShortcutRecord? last;
        try
        {
            last = JsonSerializer.Deserialize(await File.ReadAllBytesAsync(record, cancellationToken), ReleaseRequestJson.Default.ShortcutRecord);
        }
        catch (JsonException)
        {
            return null;
        }

        if (last is null || last.Fingerprint != fingerprint || !Digest.TryParse(last.Manifest.Image.Digest, out var digest) || !SameFiles(request.PublishDirectory, last.Files))
        {
            return null;
        }

        var image = last.Manifest.Image;
        var tags = image.Tags.Concat(image.MovingTags).ToList();
        if (request.Registry is { } registry)
        {
            using var client = ReleasePipeline.RegistryClientFor(registry, getEnv, log);
            foreach (var tag in tags)
            {
                if ((await client.HeadManifestAsync(request.Repository, tag, cancellationToken))?.Digest != digest)
                {
                    return null;
                }
            }

            foreach (var tag in image.Tags)
            {
                log.Info($"{client.Registry}/{request.Repository}:{tag} already points at {digest}: adopted, nothing pushed (nothing changed since the last publish)");
            }
        }
        else
        {
            var layout = Path.Combine(request.OutputDirectory, "image");
            if (!File.Exists(Path.Combine(layout, "index.json")) || !tags.All(t => LayoutIndex.Tags(layout).TryGetValue(t, out var d) && d == digest))
            {
                return null;
            }

            foreach (var tag in image.Tags)
            {
                log.Info($"oci:{layout}:{tag} already points at {digest}: adopted, nothing written (nothing changed since the last publish)");
            }
        }

        // release.json is rewritten only when it is not already the recorded one.
        if (!File.Exists(manifestPath) || File.ReadAllText(manifestPath) != last.ManifestJson)
        {
            ReleaseManifestFile.Write(manifestPath, last.Manifest);
        }

        log.Info($"release {last.Manifest.ReleaseId}: {image.Reference}");
        log.Info($"  release manifest {manifestPath}");
        return new ReleaseResult(last.Manifest.ReleaseId, image.Digest, image.Reference, manifestPath, image.Tags, last.Manifest);
    }

    // Same set of files; each with the same size, and either the same time or (rewritten, e.g. web.config) the same bytes.
    private static bool SameFiles(string publishDirectory, IReadOnlyList<PublishedFile> last)
    {
        var root = Path.GetFullPath(publishDirectory);
        var current = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        if (current.Count != last.Count)
        {
            return false;
        }

        for (var i = 0; i < current.Count; i++)
        {
            var info = new FileInfo(current[i]);
            var was = last[i];
            if (Path.GetRelativePath(root, info.FullName) != was.Path || info.Length != was.Size
                || (info.LastWriteTimeUtc.Ticks != was.Ticks && (was.Sha256.Length == 0 || Hash(info.FullName) != was.Sha256)))
            {
                return false;
            }
        }

        return true;
    }

    private static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
    }

    /// <summary>
    /// Starts, in the background, what a rerun of the recorded release will do first (a fingerprint, and the registry
    /// round trip), and drops the answers. The first HTTP request and the first JSON serialization of a build process
    /// cost tens of milliseconds of code compiled and loaded, most of a no-op rerun's own time; done while the build
    /// runs, the shortcut's real ones later are as cheap as second ones. Nothing is logged and nothing can fail: no
    /// record, no registry, or any error, and it just ends.
    /// </summary>
    public static Task WarmUpAsync(string layerCacheDirectory, string? registry, Func<string, string?> getEnv)
    {
        ArgumentNullException.ThrowIfNull(getEnv);
        if (string.IsNullOrWhiteSpace(layerCacheDirectory))
        {
            return Task.CompletedTask;
        }

        var record = Path.Combine(layerCacheDirectory, FileName);
        if (!File.Exists(record))
        {
            return Task.CompletedTask;
        }

        return Task.Run(async () =>
        {
            try
            {
                // The fingerprint's first serialization builds the JSON metadata of every type in a request: measured at
                // about 15 ms of a rerun's 45, and the same work for any request, so a stand-in request does it here.
                Fingerprint(
                    new ReleaseRequest { ProjectDirectory = "", PublishDirectory = layerCacheDirectory, OutputDirectory = "", LayerCacheDirectory = "", AppName = "", Repository = "", BaseImage = "", RuntimeIdentifier = "" },
                    new SourceRevision(new string('0', 40), false, DateTimeOffset.UnixEpoch, null, RevisionOrigin.Explicit));

                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                var last = JsonSerializer.Deserialize(await File.ReadAllBytesAsync(record, timeout.Token), ReleaseRequestJson.Default.ShortcutRecord);
                // Only the registry this publish goes to: a release that moved elsewhere must not send a request to the old one.
                if (last?.Manifest.Image is not { Registry: { Length: > 0 } recorded, Repository: { Length: > 0 } repository, Tags: [var tag, ..] }
                    || !string.Equals(recorded, registry?.Trim(), StringComparison.OrdinalIgnoreCase))
                {
                    return;
                }

                using var client = new RegistryClient(recorded, new RegistryClientOptions { GetEnvironmentVariable = getEnv });
                await client.HeadManifestAsync(repository, tag, timeout.Token);
            }
            catch (Exception)
            {
                // A warm-up only: the release makes its own request and reports what that finds.
            }
        });
    }

    /// <summary>Records a finished release for the next rerun.</summary>
    public static void Remember(ReleaseRequest request, string? fingerprint, ReleaseManifest manifest, string manifestPath)
    {
        var record = Path.Combine(request.LayerCacheDirectory, FileName);
        if (fingerprint is null)
        {
            if (File.Exists(record))
            {
                File.Delete(record);
            }

            return;
        }

        Directory.CreateDirectory(request.LayerCacheDirectory);
        var root = Path.GetFullPath(request.PublishDirectory);
        var files = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => new FileInfo(f))
            .Select(f => new PublishedFile(Path.GetRelativePath(root, f.FullName), f.Length, f.LastWriteTimeUtc.Ticks, f.Length <= HashedFileLimit ? Hash(f.FullName) : ""))
            .ToList();
        AtomicFile.WriteAllBytes(record, JsonSerializer.SerializeToUtf8Bytes(new ShortcutRecord(fingerprint, files, manifest, File.ReadAllText(manifestPath)), ReleaseRequestJson.Default.ShortcutRecord));
    }
}

/// <summary>What the shortcut remembers: the fingerprint, the publish files and the release they produced.</summary>
internal sealed record ShortcutRecord(string Fingerprint, IReadOnlyList<PublishedFile> Files, ReleaseManifest Manifest, string ManifestJson);

/// <summary>A publish file as last released; the hash (empty above the hashed size) settles files that were rewritten with the same bytes.</summary>
internal sealed record PublishedFile(string Path, long Size, long Ticks, string Sha256);

/// <summary>Reads the ref-name tags of an OCI layout's index.json.</summary>
internal static class LayoutIndex
{
    public static Dictionary<string, Digest> Tags(string layout)
    {
        var tags = new Dictionary<string, Digest>(StringComparer.Ordinal);
        var index = Path.Combine(layout, "index.json");
        if (!File.Exists(index))
        {
            return tags;
        }

        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(index));
            if (doc.RootElement.TryGetProperty("manifests", out var manifests))
            {
                foreach (var m in manifests.EnumerateArray())
                {
                    if (m.TryGetProperty("annotations", out var a) && a.TryGetProperty(OciLayoutBase.RefNameAnnotation, out var name) && name.GetString() is { } tag
                        && m.TryGetProperty("digest", out var d) && Digest.TryParse(d.GetString(), out var parsed))
                    {
                        tags[tag] = parsed;
                    }
                }
            }
        }
        catch (JsonException e)
        {
            throw new ImmutableBuildException("IMB3090", $"{index} is not a valid OCI layout index ({e.Message}). Delete the folder {layout}; the next publish writes it again.", e);
        }

        return tags;
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(ReleaseRequest))]
[System.Text.Json.Serialization.JsonSerializable(typeof(ShortcutRecord))]
internal sealed partial class ReleaseRequestJson : System.Text.Json.Serialization.JsonSerializerContext;
