using System.Text;
using Immutable.Build.Images;

namespace Immutable.Build.Core.Tests.Images;

/// <summary>Files, tools and a registry-shaped fetcher for the image tests.</summary>
internal static class ImageTestSupport
{
    /// <summary>2023-11-14T22:13:20Z, a commit time.</summary>
    public static readonly DateTimeOffset CommitTime = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static string NewDir(string name) => TestEnvironment.NewWorkDir("images-" + name);

    public static string WriteFile(string root, string relative, string content, bool executable = false)
    {
        var path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, executable
                ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
                : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        return path;
    }

    /// <summary>Every file under <paramref name="root"/> as a layer file under <paramref name="prefix"/>.</summary>
    public static List<LayerFile> FilesUnder(string root, string prefix) =>
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
            .Where(p => File.Exists(p) || new FileInfo(p).LinkTarget is not null)
            .Select(p => new LayerFile(p, prefix + "/" + Path.GetRelativePath(root, p).Replace('\\', '/')))
            .ToList();

    /// <summary>Finds a command-line tool; fails under CI and skips elsewhere when it is missing.</summary>
    public static string RequireTool(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(Path.PathSeparator).Append("/usr/sbin"))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        var message = $"'{name}' is not installed (tests/infra/install.sh installs it)";
        if (TestEnvironment.IsCI)
        {
            Assert.Fail(message);
        }

        Assert.Skip(message);
        return name;
    }

    public static async Task<ProcessResult> RunAsync(string tool, params string[] args)
    {
        var result = await ProcessRunner.RunAsync(RequireTool(tool), args, environment: new Dictionary<string, string?> { ["TZ"] = "UTC", ["LC_ALL"] = "C" }, timeout: TimeSpan.FromMinutes(2), cancellationToken: Ct);
        return result.EnsureSuccess($"{tool} {string.Join(' ', args)}");
    }

    /// <summary>Builds a two-layer app ("packages" and "app") from fresh files and assembles it on <paramref name="baseSource"/>.</summary>
    public static async Task<AssembledImage> BuildAppAsync(IBaseImageSource baseSource, string name, ImageSettings? settings = null, string greeting = "hello")
    {
        var root = NewDir(name);
        WriteFile(root, "packages/Dep.dll", "dependency");
        WriteFile(root, "app/App.dll", greeting);
        WriteFile(root, "app/App", "#!/bin/sh\n", executable: true);
        var builder = new LayerBuilder(Path.Combine(root, "obj-layers"));
        var layers = new List<BuiltLayer>
        {
            await builder.BuildAsync(new LayerSpec("packages", FilesUnder(Path.Combine(root, "packages"), "app"), CommitTime), Ct),
            await builder.BuildAsync(new LayerSpec("app", FilesUnder(Path.Combine(root, "app"), "app"), CommitTime), Ct),
        };
        return await ImageAssembler.AssembleAsync(baseSource, layers, settings ?? new ImageSettings
        {
            Created = CommitTime,
            Entrypoint = ["/app/App"],
            WorkingDirectory = "/app",
            Environment = [new("APP_GREETING", greeting)],
            ExposedPorts = ["8080"],
        }, Ct);
    }

    /// <summary>
    /// Writes a base image for each RID into <paramref name="layout"/> (tagged with the RID) and an index of
    /// all of them tagged <c>multi</c>; returns the manifest digest of each RID's image.
    /// </summary>
    public static async Task<Dictionary<string, Digest>> WriteMultiPlatformBaseAsync(string layout, params string[] rids)
    {
        var digests = new Dictionary<string, Digest>();
        var writer = new OciLayoutWriter(layout);
        var descriptors = new List<Descriptor>();
        foreach (var rid in rids)
        {
            var image = await BuildAppAsync(new ScratchBase(rid), "base-" + rid, new ImageSettings
            {
                Created = CommitTime,
                Cmd = ["/bin/sh"],
                Environment = [new("PATH", "/usr/bin:/bin"), new("BASE_RID", rid)],
            }, greeting: "base for " + rid);
            await writer.WriteAsync(image.Content, [rid], Ct);
            digests[rid] = image.Digest;
            var platform = Platforms.FromRuntimeIdentifier(rid);
            descriptors.Add(new Descriptor(image.Content.ManifestMediaType, image.Digest.Value, image.Content.Manifest.Length) { Platform = platform });
        }

        var indexBytes = ImageJson.Serialize(new ImageIndex { MediaType = MediaTypes.OciIndex, Manifests = descriptors });
        var indexDigest = Digest.Of(indexBytes);
        await File.WriteAllBytesAsync(Path.Combine(layout, "blobs", "sha256", indexDigest.Hex), indexBytes, Ct);
        var indexJson = Path.Combine(layout, "index.json");
        var top = ImageJson.ParseIndex(await File.ReadAllBytesAsync(indexJson, Ct));
        var entries = top.Manifests.Append(new Descriptor(MediaTypes.OciIndex, indexDigest.Value, indexBytes.Length)
        {
            Annotations = new Dictionary<string, string> { [OciLayoutBase.RefNameAnnotation] = "multi" },
        }).ToList();
        await File.WriteAllBytesAsync(indexJson, ImageJson.Serialize(top with { Manifests = entries }), Ct);
        return digests;
    }

    public static async Task<byte[]> ReadAllAsync(Func<Stream> open)
    {
        await using var stream = open();
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, Ct);
        return buffer.ToArray();
    }

    public static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}

/// <summary>
/// Serves an OCI image layout the way a registry would (manifests by tag or digest, blobs by digest) and
/// counts what is fetched, to show which reads happen when.
/// </summary>
internal sealed class LayoutFetcher(string layout) : IManifestFetcher
{
    private int _blobOpens;
    private int _blobGets;

    public int BlobOpens => _blobOpens;

    public int BlobGets => _blobGets;

    public List<string> Repositories { get; } = [];

    public async Task<(byte[] Content, string MediaType)> GetManifestAsync(string repository, string reference, CancellationToken ct)
    {
        lock (Repositories)
        {
            Repositories.Add(repository);
        }

        var index = ImageJson.ParseIndex(await File.ReadAllBytesAsync(Path.Combine(layout, "index.json"), ct));
        var descriptor = Digest.TryParse(reference, out _)
            ? index.Manifests.FirstOrDefault(m => m.Digest == reference) ?? new Descriptor("", reference, 0)
            : index.Manifests.Single(m => m.Annotations?.GetValueOrDefault(OciLayoutBase.RefNameAnnotation) == reference);
        var bytes = await File.ReadAllBytesAsync(Path.Combine(layout, "blobs", "sha256", Digest.Parse(descriptor.Digest).Hex), ct);
        return (bytes, ImageJson.SniffMediaType(bytes, descriptor.MediaType));
    }

    public Task<byte[]> GetBlobAsync(string repository, Digest digest, CancellationToken ct)
    {
        Interlocked.Increment(ref _blobGets);
        return File.ReadAllBytesAsync(Path.Combine(layout, "blobs", "sha256", digest.Hex), ct);
    }

    public Task<Stream> OpenBlobAsync(string repository, Digest digest, CancellationToken ct)
    {
        Interlocked.Increment(ref _blobOpens);
        return Task.FromResult<Stream>(File.OpenRead(Path.Combine(layout, "blobs", "sha256", digest.Hex)));
    }
}
