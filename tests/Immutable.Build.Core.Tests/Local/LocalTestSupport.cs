using Immutable.Build.Targets.Local;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Text;
using Immutable.Build.Images;
using Immutable.Build.Targets;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>The local target's tests share one published release of the sample and run one at a time (they time requests).</summary>
[CollectionDefinition(Name)]
public sealed class LocalTargetCollection : ICollectionFixture<SampleReleaseFixture>
{
    public const string Name = "local target";
}

/// <summary>A real release of samples/HelloImmutable, published through the freshly packed package to an OCI layout.</summary>
public sealed class SampleReleaseFixture : IAsyncLifetime
{
    public ReleaseRef Release { get; private set; } = null!;

    public string LayoutDirectory { get; private set; } = "";

    public Digest Digest { get; private set; }

    /// <summary>The local host as the solution build leaves it.</summary>
    public static string HostAssembly => Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.LocalHost", "bin", "Release", "net8.0", "Immutable.Build.LocalHost.dll");

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(HostAssembly))
        {
            throw new InvalidOperationException($"{HostAssembly} is missing: build the solution (dotnet build Immutable.Build.sln -c Release) first.");
        }

        if (!Directory.Exists(TestEnvironment.PackagesDir) || !Directory.EnumerateFiles(TestEnvironment.PackagesDir, "Immutable.Build.*.nupkg").Any())
        {
            throw new InvalidOperationException($"No packed Immutable.Build in {TestEnvironment.PackagesDir}: run ./build.sh pack first.");
        }

        var workspace = await SampleWorkspace.CreateAsync();
        var outcome = await workspace.PublishWithResultsAsync([], ["ImmutableImageDigest", "ImmutableReleaseId", "ImmutableReleaseManifest"]);
        outcome.Process.EnsureSuccess("dotnet publish of the sample");
        Digest = Digest.Parse(outcome["ImmutableImageDigest"]);
        LayoutDirectory = Path.Combine(Path.GetDirectoryName(outcome["ImmutableReleaseManifest"])!, "image");
        var commit = await workspace.GitAsync("rev-parse", "HEAD");
        Release = new ReleaseRef(outcome["ImmutableReleaseId"], $"hello-immutable@{Digest}", Digest.Value, $"oci:{LayoutDirectory}", commit);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>The same image under another release id, so that two groups can be told apart by /version.</summary>
    public ReleaseRef As(string releaseId) => Release with { ReleaseId = releaseId };
}

/// <summary>
/// One test's local target: its own state directory (so its own host), proxy ports picked free, and a host
/// that is stopped with every instance when the test ends, pass or fail.
/// </summary>
public abstract class LocalTargetTestBase(SampleReleaseFixture sample) : IAsyncLifetime
{
    protected static readonly DeploymentScope Scope = new("hello-immutable", "test");

    protected SampleReleaseFixture Sample { get; } = sample;

    protected string StateDirectory { get; private set; } = "";

    protected LocalTarget Target { get; private set; } = null!;

    protected HttpClient Http { get; } = new(new SocketsHttpHandler { UseProxy = false, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5) }) { Timeout = TimeSpan.FromSeconds(30) };

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    public virtual ValueTask InitializeAsync()
    {
        StateDirectory = Path.Combine(TestEnvironment.NewWorkDir("local"), "state");
        Target = new LocalTarget(new LocalTargetOptions(StateDirectory, SampleReleaseFixture.HostAssembly, ProxyPort: 0) { StopGrace = TimeSpan.FromSeconds(5) });
        return ValueTask.CompletedTask;
    }

    public virtual async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await LocalHostControl.StopAsync(StateDirectory, TimeSpan.FromSeconds(5), CancellationToken.None);
        GC.SuppressFinalize(this);
    }

    protected Task<IReadOnlyList<InstanceInfo>> LaunchAsync(string group, int replicas, ReleaseRef? release = null, IReadOnlyDictionary<string, string>? environment = null) =>
        Target.LaunchAsync(new LaunchRequest(Scope, release ?? Sample.Release, group, replicas, environment ?? new Dictionary<string, string>()), Ct);

    /// <summary>Waits until every instance answers /healthz with <paramref name="expected"/>.</summary>
    protected async Task WaitHealthAsync(IEnumerable<InstanceInfo> instances, HttpStatusCode expected = HttpStatusCode.OK)
    {
        foreach (var instance in instances)
        {
            await WaitUntilAsync(async () => await StatusOfAsync(new Uri(instance.Address, "healthz")) == expected, TimeSpan.FromSeconds(60), $"{instance.Id} answering /healthz with {(int)expected}");
        }
    }

    protected async Task<HttpStatusCode?> StatusOfAsync(Uri uri)
    {
        try
        {
            using var response = await Http.GetAsync(uri, Ct);
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    /// <summary>The release id the app behind <paramref name="proxy"/> reports, or null with the failure.</summary>
    protected async Task<(string? ReleaseId, string? Failure)> VersionAsync(Uri proxy)
    {
        try
        {
            using var response = await Http.GetAsync(new Uri(proxy, "version"), Ct);
            var body = await response.Content.ReadAsStringAsync(Ct);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return (null, $"{(int)response.StatusCode}: {body.Trim()}");
            }

            using var json = System.Text.Json.JsonDocument.Parse(body);
            return (json.RootElement.GetProperty("releaseId").GetString(), null);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return (null, e.Message);
        }
    }

    protected async Task<Uri> ProxyAsync()
    {
        var state = await Target.ObserveAsync(Scope, Ct);
        return state.Entrypoint ?? throw new InvalidOperationException("the scope has no proxy");
    }

    protected static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        // Real processes on the real clock: the kernel's one wait, not a loop of its own.
        if (!await Wait.UntilAsync(async _ => await condition(), timeout, TimeSpan.FromMilliseconds(100), TimeProvider.System, Ct))
        {
            throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0} s waiting for {what}.");
        }
    }

    protected static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is not ("Z" or "X");
        }
        catch (IOException)
        {
            return false;
        }
    }
}

/// <summary>Writes small OCI layouts by hand, for unpacking cases a real publish never produces.</summary>
internal static class HandmadeLayout
{
    public sealed record Entry(string Name, TarEntryType Type, string? Content = null, string? LinkName = null);

    /// <summary>Writes a layout with one image of <paramref name="layers"/>; returns its folder and manifest digest.</summary>
    public static (string Folder, Digest Digest) Write(string folder, params IReadOnlyList<Entry>[] layers)
    {
        var blobs = Path.Combine(folder, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        File.WriteAllText(Path.Combine(folder, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        var layerDescriptors = new List<Descriptor>();
        var diffIds = new List<string>();
        foreach (var layer in layers)
        {
            var tar = new MemoryStream();
            using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            {
                foreach (var e in layer)
                {
                    var entry = new PaxTarEntry(e.Type, e.Name) { Mode = e.Type == TarEntryType.Directory ? (UnixFileMode)0x1ED : (UnixFileMode)0x1A4 };
                    if (e.LinkName is not null)
                    {
                        entry.LinkName = e.LinkName;
                    }

                    if (e.Content is not null)
                    {
                        entry.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(e.Content));
                    }

                    writer.WriteEntry(entry);
                }
            }

            diffIds.Add(Digest.Of(tar.ToArray()).Value);
            var gz = new MemoryStream();
            using (var gzip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
            {
                gzip.Write(tar.ToArray());
            }

            layerDescriptors.Add(Blob(blobs, gz.ToArray(), MediaTypes.OciLayerGzip));
        }

        var config = ImageJson.Serialize(new ImageConfig
        {
            Architecture = ImageUnpacker.CurrentPlatform().Architecture,
            Os = "linux",
            Config = new ContainerConfig { Entrypoint = ["dotnet", "/app/app.dll"], WorkingDir = "/app" },
            RootFs = new RootFs { DiffIds = diffIds },
        });
        var manifest = ImageJson.Serialize(new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = Blob(blobs, config, MediaTypes.OciConfig),
            Layers = layerDescriptors,
        });
        var manifestDescriptor = Blob(blobs, manifest, MediaTypes.OciManifest);
        File.WriteAllBytes(Path.Combine(folder, "index.json"), ImageJson.Serialize(new ImageIndex { MediaType = MediaTypes.OciIndex, Manifests = [manifestDescriptor] }));
        return (folder, Digest.Parse(manifestDescriptor.Digest));
    }

    private static Descriptor Blob(string blobs, byte[] content, string mediaType)
    {
        var digest = Digest.Of(content);
        File.WriteAllBytes(Path.Combine(blobs, digest.Hex), content);
        return new Descriptor(mediaType, digest.Value, content.Length);
    }
}
