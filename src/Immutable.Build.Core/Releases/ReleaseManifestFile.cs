using System.Text.Json;

namespace Immutable.Build.Releases;

/// <summary>Reads and writes release.json atomically, so a reader never sees half a file.</summary>
public static class ReleaseManifestFile
{
    /// <summary>Writes <paramref name="manifest"/> to <paramref name="path"/> through a temporary file and a rename.</summary>
    public static void Write(string path, ReleaseManifest manifest)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        byte[] json = [.. JsonSerializer.SerializeToUtf8Bytes(manifest, ReleaseJsonContext.Default.ReleaseManifest), (byte)'\n'];
        AtomicFile.WriteAllBytes(full, json);
    }

    /// <summary>The largest release.json read: a publish writes a few kilobytes; anything near this is not one.</summary>
    public const long MaxBytes = 4 << 20;

    /// <summary>
    /// Reads a release.json; throws IMB4001 for a missing, unreadable, oversized or foreign-schema file and IMB4030 for
    /// one that parses but holds a value no publish writes (it is read from wherever a user points, so it is checked
    /// before any of its names reaches a path, a registry or a target).
    /// </summary>
    public static ReleaseManifest Read(string path)
    {
        ReleaseManifest manifest;
        try
        {
            if (Directory.Exists(path))
            {
                throw new ImmutableBuildException(ReleaseErrors.ManifestUnreadable, $"{path} is a folder, not a release.json; give the path of the release.json that `dotnet publish` wrote (bin/<configuration>/<framework>/immutable/release.json).");
            }

            using var stream = File.OpenRead(path);
            if (stream.Length > MaxBytes)
            {
                throw new ImmutableBuildException(ReleaseErrors.ManifestUnreadable, $"{path} is {stream.Length} bytes, more than any release.json ({MaxBytes} bytes at most): it is not one. Give the release.json that `dotnet publish` wrote, or publish again to rewrite it.");
            }

            manifest = JsonSerializer.Deserialize(stream, ReleaseJsonContext.Default.ReleaseManifest)
                ?? throw new ImmutableBuildException(ReleaseErrors.ManifestUnreadable, $"{path} holds no release (it is the JSON null). Publish again to rewrite it.");
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            // The JSON reader's message names the line and byte; the fix is the same whatever broke it.
            throw new ImmutableBuildException(ReleaseErrors.ManifestUnreadable, $"Cannot read release manifest {path}: {e.Message} Publish again to rewrite it.", e);
        }

        if (manifest.SchemaVersion > ReleaseManifest.CurrentSchemaVersion)
        {
            throw new ImmutableBuildException(ReleaseErrors.ManifestUnreadable, $"{path} has schema version {manifest.SchemaVersion}, newer than this tool understands ({ReleaseManifest.CurrentSchemaVersion}); update Immutable.Build.");
        }

        Validate(path, manifest);
        return manifest;
    }

    private static void Validate(string path, ReleaseManifest manifest)
    {
        void Refuse(string field, string? value, string expected) =>
            throw new ImmutableBuildException(
                ReleaseErrors.ManifestInvalid,
                $"{path} is not a release.json a publish wrote: {field} is '{Shorten(value)}', expected {expected}. Publish again to rewrite it, and do not edit release.json by hand.");

        if (manifest.SchemaVersion < 1)
        {
            Refuse("schemaVersion", manifest.SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), $"1 to {ReleaseManifest.CurrentSchemaVersion}");
        }

        if (!ReleaseSettings.IsPlainName(manifest.App))
        {
            Refuse("app", manifest.App, "a plain name (letters, digits, '.', '_', '-'; no '/' or '..')");
        }

        if (!ReleaseSettings.IsPlainName(manifest.ReleaseId))
        {
            Refuse("releaseId", manifest.ReleaseId, "a tag (letters, digits, '.', '_', '-'; no '/' or '..')");
        }

        var image = manifest.Image;
        if (image is null || !Immutable.Build.Images.Digest.TryParse(image.Digest, out _))
        {
            Refuse("image.digest", image?.Digest, "sha256: followed by 64 lowercase hex characters");
        }

        if (string.IsNullOrWhiteSpace(image!.Reference) || !image.Reference.EndsWith("@" + image.Digest, StringComparison.Ordinal))
        {
            Refuse("image.reference", image.Reference, $"<repository>@{image.Digest}");
        }

        if (manifest.Source is null || manifest.Source.Commit is not { Length: >= 7 and <= 64 } commit || !commit.All(char.IsAsciiHexDigitLower))
        {
            Refuse("source.commit", manifest.Source?.Commit, "a commit SHA (7 to 64 lowercase hex characters)");
        }

        if (image.Outputs.TryGetValue("ociLayout", out var layout)
            && (string.IsNullOrWhiteSpace(layout) || Path.IsPathRooted(layout) || layout.Contains('\\', StringComparison.Ordinal) || layout.Split('/').Contains("..")))
        {
            Refuse("image.outputs.ociLayout", layout, "a folder beside release.json (such as image)");
        }
    }

    // Shown escaped: a value read from the file must not start a line of the log of its own.
    private static string Shorten(string? value) =>
        value is null ? "(missing)" : System.Text.Json.JsonEncodedText.Encode(value.Length > 80 ? value[..80] + "..." : value).ToString();
}
