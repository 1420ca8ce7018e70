using System.Text.Json;
using Immutable.Build.Images;

namespace Immutable.Build.Registry;

/// <summary>Why a refused tag points at other content.</summary>
public enum TagConflictKind
{
    /// <summary>The image under the tag carries no revision label to compare (pushed by another tool): either cause is possible.</summary>
    Unknown,

    /// <summary>The tag holds an image of another commit: a fixed tag was reused.</summary>
    TagReused,

    /// <summary>The tag holds an image of this same commit built with other content.</summary>
    SameCommitOtherContent,
}

/// <summary>
/// What one image is, as far as a tag conflict is concerned: its manifest, its config, and facts about its build that the
/// image does not carry (SDK version, a dirty work tree...: read from the release manifest written beside it, when there is one).
/// </summary>
/// <param name="MediaType">The manifest's media type.</param>
/// <param name="Manifest">The manifest.</param>
/// <param name="Config">The image config.</param>
/// <param name="Build">Build facts by display name (e.g. "SDK" → "10.0.100"); empty when unknown.</param>
public sealed record ConflictingImage(string MediaType, ImageManifest Manifest, ImageConfig Config, IReadOnlyDictionary<string, string> Build);

/// <summary>
/// Build facts for the tag conflict's explanation: this build's, and the previous release's when its release manifest
/// was still there (only when it describes the image the tag holds).
/// </summary>
/// <param name="Current">This build's facts by display name.</param>
/// <param name="PreviousDigest">The image the previous release manifest describes.</param>
/// <param name="Previous">That release's facts.</param>
public sealed record TagConflictHints(IReadOnlyDictionary<string, string> Current, Digest? PreviousDigest = null, IReadOnlyDictionary<string, string>? Previous = null)
{
    /// <summary>The facts known for the image at <paramref name="digest"/>; empty when unknown.</summary>
    public IReadOnlyDictionary<string, string> For(Digest digest) => PreviousDigest == digest && Previous is not null ? Previous : Empty;

    internal static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();
}

/// <summary>
/// The explanation of one refused tag: by the revision label, whether the tag was reused by another commit or the same commit
/// was built with other content, and then what differs (labels, settings, base image, layers, build facts).
/// </summary>
/// <param name="Tag">The refused tag.</param>
/// <param name="ExistingDigest">The digest the tag points at.</param>
/// <param name="Kind">Which cause it is.</param>
/// <param name="ExistingRevision">The commit of the image under the tag (its revision label).</param>
/// <param name="NewRevision">The commit of this build.</param>
/// <param name="Differences">What differs, each as "what: 'in the tag' → 'in this build'".</param>
public sealed record TagConflict(string Tag, Digest ExistingDigest, TagConflictKind Kind, string? ExistingRevision, string? NewRevision, IReadOnlyList<string> Differences)
{
    /// <summary>The label every release image carries with its commit.</summary>
    public const string RevisionLabel = "org.opencontainers.image.revision";

    /// <summary>The label with the repository URL.</summary>
    public const string SourceLabel = "org.opencontainers.image.source";

    private const long MaxConfigBytes = 4L * 1024 * 1024;

    /// <summary>Compares the image under <paramref name="tag"/> (<paramref name="existing"/>) with this build's (<paramref name="built"/>).</summary>
    public static TagConflict Compare(string tag, Digest existingDigest, ConflictingImage existing, ConflictingImage built)
    {
        ArgumentNullException.ThrowIfNull(existing);
        ArgumentNullException.ThrowIfNull(built);
        var before = Label(existing, RevisionLabel);
        var now = Label(built, RevisionLabel);
        var kind = string.IsNullOrEmpty(before) || string.IsNullOrEmpty(now) ? TagConflictKind.Unknown
            : string.Equals(before, now, StringComparison.OrdinalIgnoreCase) ? TagConflictKind.SameCommitOtherContent
            : TagConflictKind.TagReused;
        return new TagConflict(tag, existingDigest, kind, before, now, kind == TagConflictKind.TagReused ? [] : Diff(existing, built));
    }

    /// <summary>What differs between the two images, in a fixed order: platform, format, labels, settings, base, layers, build.</summary>
    public static IReadOnlyList<string> Diff(ConflictingImage existing, ConflictingImage built)
    {
        ArgumentNullException.ThrowIfNull(existing);
        ArgumentNullException.ThrowIfNull(built);
        var diffs = new List<string>();
        void Add(string what, string? a, string? b)
        {
            if (!string.Equals(a ?? "", b ?? "", StringComparison.Ordinal))
            {
                diffs.Add($"{what}: {Show(a)} → {Show(b)}");
            }
        }

        Add("platform", Platform(existing.Config), Platform(built.Config));
        Add("manifest format (ContainerImageFormat)", Format(existing.MediaType), Format(built.MediaType));
        Add("image time", existing.Config.Created, built.Config.Created);

        var labelsBefore = existing.Config.Config?.Labels ?? new Dictionary<string, string>();
        var labelsNow = built.Config.Config?.Labels ?? new Dictionary<string, string>();
        foreach (var key in labelsBefore.Keys.Union(labelsNow.Keys).Where(k => k != RevisionLabel).Order(StringComparer.Ordinal))
        {
            Add(key == SourceLabel ? $"source label ({SourceLabel})" : $"label {key}", labelsBefore.GetValueOrDefault(key), labelsNow.GetValueOrDefault(key));
        }

        var c0 = existing.Config.Config ?? new ContainerConfig();
        var c1 = built.Config.Config ?? new ContainerConfig();
        var env0 = Environment(c0.Env);
        var env1 = Environment(c1.Env);
        foreach (var name in env0.Keys.Union(env1.Keys).Order(StringComparer.Ordinal))
        {
            Add($"environment variable {name}", env0.GetValueOrDefault(name), env1.GetValueOrDefault(name));
        }

        Add("entrypoint", Join(c0.Entrypoint), Join(c1.Entrypoint));
        Add("command", Join(c0.Cmd), Join(c1.Cmd));
        Add("user", c0.User, c1.User);
        Add("working directory", c0.WorkingDir, c1.WorkingDir);
        Add("ports", Join(c0.ExposedPorts?.Keys.Order(StringComparer.Ordinal)), Join(c1.ExposedPorts?.Keys.Order(StringComparer.Ordinal)));
        Add("volumes", Join(c0.Volumes?.Keys.Order(StringComparer.Ordinal)), Join(c1.Volumes?.Keys.Order(StringComparer.Ordinal)));
        Add("stop signal", c0.StopSignal, c1.StopSignal);
        Add("health check", Join(c0.Healthcheck?.Test), Join(c1.Healthcheck?.Test));

        var layers0 = NamedLayers(existing);
        var layers1 = NamedLayers(built);
        var base0 = layers0.Where(l => l.Name is null).Select(l => l.Digest).ToList();
        var base1 = layers1.Where(l => l.Name is null).Select(l => l.Digest).ToList();
        if (!base0.SequenceEqual(base1, StringComparer.Ordinal))
        {
            diffs.Add($"base image: {BaseSummary(base0)} → {BaseSummary(base1)} (another ContainerBaseImage, or its tag moved: name it by digest)");
        }

        var ours0 = layers0.Where(l => l.Name is not null).ToDictionary(l => l.Name!, l => l.Digest, StringComparer.Ordinal);
        var ours1 = layers1.Where(l => l.Name is not null).ToDictionary(l => l.Name!, l => l.Digest, StringComparer.Ordinal);
        foreach (var name in ours0.Keys.Union(ours1.Keys))
        {
            Add($"{name} layer", Short(ours0.GetValueOrDefault(name)), Short(ours1.GetValueOrDefault(name)));
        }

        foreach (var key in existing.Build.Keys.Union(built.Build.Keys))
        {
            // A fact recorded only for this build says nothing about the other image, except a dirty work tree, which explains any layer.
            if (existing.Build.Count == 0)
            {
                if (key == DirtyFact && built.Build.GetValueOrDefault(key) == "yes")
                {
                    diffs.Add("this build's work tree has uncommitted changes");
                }

                continue;
            }

            Add(key, existing.Build.GetValueOrDefault(key), built.Build.GetValueOrDefault(key));
        }

        return diffs;
    }

    /// <summary>The build fact that says the work tree had uncommitted changes ("yes"/"no").</summary>
    public const string DirtyFact = "uncommitted changes";

    /// <summary>One sentence on this tag, for IMB2016.</summary>
    public string Describe() => Kind switch
    {
        TagConflictKind.TagReused =>
            $"the tag '{Tag}' holds commit {ShortCommit(ExistingRevision)} ({ExistingDigest}), but this build is commit {ShortCommit(NewRevision)}: the tag was reused by another commit",
        TagConflictKind.SameCommitOtherContent when Differences.Count > 0 =>
            $"the tag '{Tag}' holds this same commit {ShortCommit(NewRevision)} ({ExistingDigest}) built with other content (the tag's → this build's): {string.Join("; ", Differences)}",
        TagConflictKind.SameCommitOtherContent =>
            $"the tag '{Tag}' holds this same commit {ShortCommit(NewRevision)} ({ExistingDigest}) built with other content (no label, setting or layer differs: the manifest itself does)",
        _ => $"'{Tag}' already points at {ExistingDigest}",
    };

    /// <summary>Reads the image at <paramref name="digest"/> from a registry; null when it cannot be read (the caller falls back to the plain message).</summary>
    public static async Task<ConflictingImage?> TryReadAsync(RegistryClient client, string repository, Digest digest, IReadOnlyDictionary<string, string> build, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        try
        {
            var manifest = await client.TryGetManifestAsync(repository, digest.Value, cancellationToken);
            if (manifest is null || !MediaTypes.IsManifest(manifest.MediaType))
            {
                return null;
            }

            var parsed = ImageJson.ParseManifest(manifest.Content);
            var config = await client.GetBlobBytesAsync(repository, Digest.Parse(parsed.Config.Digest), MaxConfigBytes, cancellationToken);
            return new ConflictingImage(manifest.MediaType, parsed, ImageJson.ParseConfig(config), build);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Only the explanation is lost (a timeout, a denied read, a foreign document): IMB2016 keeps its plain wording.
            return null;
        }
    }

    /// <summary>Reads the image at <paramref name="digest"/> from an OCI layout folder; null when it cannot be read.</summary>
    public static ConflictingImage? TryRead(string layout, Digest digest, IReadOnlyDictionary<string, string> build)
    {
        try
        {
            var manifestBytes = File.ReadAllBytes(BlobPath(layout, digest));
            if (Digest.Of(manifestBytes) != digest)
            {
                return null;
            }

            var manifest = ImageJson.ParseManifest(manifestBytes);
            var configDigest = Digest.Parse(manifest.Config.Digest);
            var config = File.ReadAllBytes(BlobPath(layout, configDigest));
            return Digest.Of(config) == configDigest
                ? new ConflictingImage(ImageJson.SniffMediaType(manifestBytes, manifest.MediaType), manifest, ImageJson.ParseConfig(config), build)
                : null;
        }
        catch (Exception e) when (e is ImmutableBuildException or IOException or UnauthorizedAccessException or JsonException or FormatException)
        {
            return null;
        }
    }

    /// <summary>This build's image, as the comparison sees it; null when its documents cannot be read back.</summary>
    public static ConflictingImage? TryOf(ImageContent image, IReadOnlyDictionary<string, string> build)
    {
        ArgumentNullException.ThrowIfNull(image);
        try
        {
            var manifest = ImageJson.ParseManifest(image.Manifest);
            if (image.Config.Open is not { } open)
            {
                return null;
            }

            using var stream = open();
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            return new ConflictingImage(image.ManifestMediaType, manifest, ImageJson.ParseConfig(buffer.ToArray()), build);
        }
        catch (Exception e) when (e is ImmutableBuildException or IOException or JsonException or FormatException)
        {
            return null;
        }
    }

    private static string BlobPath(string layout, Digest digest) =>
        Path.Combine(layout, "blobs", digest.Value[..digest.Value.IndexOf(':', StringComparison.Ordinal)], digest.Hex);

    private static string? Label(ConflictingImage image, string key) => image.Config.Config?.Labels?.GetValueOrDefault(key);

    private static string Platform(ImageConfig c) => $"{c.Os}/{c.Architecture}{(string.IsNullOrEmpty(c.Variant) ? "" : "/" + c.Variant)}";

    private static string Format(string mediaType) => mediaType.Contains("docker", StringComparison.OrdinalIgnoreCase) ? "Docker" : "OCI";

    private static Dictionary<string, string> Environment(IReadOnlyList<string>? env)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in env ?? [])
        {
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            result[eq < 0 ? entry : entry[..eq]] = eq < 0 ? "" : entry[(eq + 1)..];
        }

        return result;
    }

    private static string? Join(IEnumerable<string>? values) => values is null ? null : string.Join(" ", values);

    private static string Show(string? value) => string.IsNullOrEmpty(value) ? "(none)" : $"'{value}'";

    private static string? Short(string? digest) => digest is null ? null : digest.Length > 19 ? digest[..19] : digest;

    private static string ShortCommit(string? commit) => commit is null ? "(unknown)" : commit.Length > 12 ? commit[..12] : commit;

    private static string BaseSummary(List<string> layers) =>
        layers.Count == 0 ? "none (scratch)" : $"{layers.Count} layer{(layers.Count == 1 ? "" : "s")} ending {Short(layers[^1])}";

    /// <summary>
    /// Each layer with the name our history entries give it ("Immutable.Build: app layer"), or null for a base layer:
    /// history entries that made a layer line up with the manifest's layers in order.
    /// </summary>
    private static List<(string? Name, string Digest)> NamedLayers(ConflictingImage image)
    {
        var names = (image.Config.History ?? []).Where(h => h.EmptyLayer != true).Select(h => OurLayerName(h)).ToList();
        return image.Manifest.Layers.Select((l, i) => (i < names.Count ? names[i] : null, l.Digest)).ToList();
    }

    private static string? OurLayerName(HistoryEntry entry)
    {
        const string prefix = "Immutable.Build: ";
        const string suffix = " layer";
        var comment = entry.Comment;
        return entry.CreatedBy == ImageAssembler.CreatedBy && comment is not null && comment.StartsWith(prefix, StringComparison.Ordinal) && comment.EndsWith(suffix, StringComparison.Ordinal)
            ? comment[prefix.Length..^suffix.Length]
            : null;
    }
}
