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

    /// <summary>Reads a release.json; throws IMB4001 for a missing, unreadable or newer-schema file.</summary>
    public static ReleaseManifest Read(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            var manifest = JsonSerializer.Deserialize(stream, ReleaseJsonContext.Default.ReleaseManifest)
                ?? throw new ImmutableBuildException("IMB4001", $"{path} is empty; publish again to rewrite it.");
            if (manifest.SchemaVersion > ReleaseManifest.CurrentSchemaVersion)
            {
                throw new ImmutableBuildException("IMB4001", $"{path} has schema version {manifest.SchemaVersion}, newer than this tool understands ({ReleaseManifest.CurrentSchemaVersion}); update Immutable.Build.");
            }

            return manifest;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            throw new ImmutableBuildException("IMB4001", $"Cannot read release manifest {path}: {e.Message} Publish again to rewrite it.", e);
        }
    }
}
