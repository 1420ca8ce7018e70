using System.Collections.Concurrent;
using Immutable.Build.Images;
using Immutable.Build.Registry;

namespace Immutable.Build.Targets.Local;

/// <summary>
/// The unpacked releases of a state directory: <c>releases/&lt;hex&gt;</c> with the image config beside it as
/// <c>&lt;hex&gt;.json</c>, unpacked once per digest and shared by every instance and scope. One gate per digest
/// keeps an unpack and a prune of the same release apart.
/// </summary>
internal sealed class LocalReleases(LocalTargetOptions options)
{
    /// <summary>An unpack older than this with its temporary folder still there was killed; a live one is younger.</summary>
    private static readonly TimeSpan AbandonedAfter = TimeSpan.FromHours(1);

    private readonly ConcurrentDictionary<string, SemaphoreSlim> _unpacking = new(StringComparer.Ordinal);

    private string Root => Path.Combine(options.StateDirectory, "releases");

    public string DirectoryOf(Digest digest) => Path.Combine(Root, digest.Hex);

    /// <summary>Unpacks the release once per digest; returns its root file system and image config.</summary>
    public async Task<(string RootFs, ImageConfig Config)> EnsureAsync(ReleaseRef release, Digest digest, CancellationToken ct)
    {
        var directory = DirectoryOf(digest);
        var configPath = ConfigPath(digest);
        var gate = GateOf(digest);
        await gate.WaitAsync(ct);
        try
        {
            LocalStateFiles.EnsureDirectory(options.StateDirectory);
            PrivateFiles.CreateDirectory(Root);
            var unpacker = new ImageUnpacker(RegistryImageSource.Opener(options.RegistryOptions)) { OwnerOnly = true };
            if (Directory.Exists(directory))
            {
                if (File.Exists(configPath))
                {
                    return (directory, ImageJson.ParseConfig(await File.ReadAllBytesAsync(configPath, ct), configPath));
                }

                var read = await unpacker.ReadConfigAsync(release.ImageSource, digest, ct);
                await WriteConfigAsync(configPath, read, ct);
                return (directory, read);
            }

            var unpacked = await unpacker.UnpackAsync(release.ImageSource, digest, directory, ct);
            await WriteConfigAsync(configPath, unpacked.Config, ct);
            options.Log?.Invoke($"unpacked release {release.ReleaseId} ({digest}) from {release.ImageSource} into {directory}");
            return (directory, unpacked.Config);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Deletes every unpacked release whose digest is not in <paramref name="keep"/>, and abandoned unpacks.</summary>
    public async Task PruneAsync(IReadOnlySet<string> keep, CancellationToken ct)
    {
        var releases = new DirectoryInfo(Root);
        if (!releases.Exists)
        {
            return;
        }

        foreach (var dir in releases.EnumerateDirectories())
        {
            if (dir.Name.StartsWith(".tmp-", StringComparison.Ordinal))
            {
                if (dir.LastWriteTimeUtc < (options.Time.GetUtcNow() - AbandonedAfter).UtcDateTime)
                {
                    dir.Delete(recursive: true);
                }

                continue;
            }

            if (!Digest.TryParse("sha256:" + dir.Name, out var digest) || keep.Contains(digest.Value))
            {
                continue;
            }

            var gate = GateOf(digest);
            await gate.WaitAsync(ct);
            try
            {
                File.Delete(ConfigPath(digest));

                // Renamed first, so a crash mid-delete leaves a .tmp- folder that a later prune clears, never a half release.
                var doomed = Path.Combine(releases.FullName, $".tmp-prune-{dir.Name}-{Guid.NewGuid():N}");
                dir.MoveTo(doomed);
                Directory.Delete(doomed, recursive: true);
                options.Log?.Invoke($"pruned unpacked release {digest}");
            }
            finally
            {
                gate.Release();
            }
        }
    }

    private SemaphoreSlim GateOf(Digest digest) => _unpacking.GetOrAdd(digest.Value, _ => new SemaphoreSlim(1, 1));

    private string ConfigPath(Digest digest) => Path.Combine(Root, digest.Hex + ".json");

    private static Task WriteConfigAsync(string path, ImageConfig config, CancellationToken ct)
    {
        var bytes = ImageJson.Serialize(config);
        return AtomicFile.WriteAsync(path, (stream, token) => stream.WriteAsync(bytes, token).AsTask(), overwrite: true, ct);
    }
}
