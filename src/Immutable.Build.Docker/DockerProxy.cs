using System.Formats.Tar;
using System.Globalization;
using System.Security.Cryptography;
using Docker.DotNet;
using Docker.DotNet.Models;
using Immutable.Build.Targets;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Docker;

/// <summary>
/// The app's proxy on one host: its image (made once per host and proxy version), its container on the stable
/// port, and the routes file whose switch moves traffic, confirmed by the proxy before a switch counts as done.
/// </summary>
internal sealed class DockerProxy(DockerCalls calls, DockerContainers containers, DockerFiles files, DockerImages images, Lazy<string> version)
{
    private const string StateDirectory = "/immutable/state";
    private const string ProxyDirectory = "/immutable/proxy";
    private static readonly TimeSpan SwitchTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private string Name => calls.Name;

    private DockerHostEntry Entry => calls.Entry;

    private IDockerClient Client => calls.Client;

    /// <summary>The proxy's version: a hash of its assembly, read once per target and shared by its hosts.</summary>
    public static Lazy<string> VersionOf(string proxyAssembly) => new(() =>
        File.Exists(proxyAssembly) ? Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(proxyAssembly)))[..16].ToLowerInvariant() : "none");

    /// <summary>The routes the proxy container was last given; null when it holds none (or the container is gone).</summary>
    public async Task<ProxyRoutes?> ReadRoutesAsync(string container, CancellationToken ct) =>
        ProxyRoutes.TryParse(await files.ReadAsync(container, $"{StateDirectory}/routes.json", ct) ?? []);

    /// <summary>Writes the routes of this host's instances to its proxy and waits until the proxy routes by them.</summary>
    public async Task SwitchAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weights, CancellationToken ct)
    {
        var all = await containers.OfAppAsync(scope.App, ct);
        var proxy = all.FirstOrDefault(c => DockerContainers.IsProxyOf(c, scope));
        if (proxy is null || proxy.State != "running")
        {
            if (weights.Values.All(w => w == 0))
            {
                return;
            }

            var image = await images.AnyReleaseImageAsync(scope, ct) ?? throw DockerErrors.Proxy(Name, "no image of the app is on the host to run it from");
            proxy = await EnsureAsync(scope, image, ct);
        }

        var routed = all
            .Where(c => DockerContainers.IsInstanceOf(c, scope))
            .Where(c => weights.GetValueOrDefault(c.Labels[DockerLabels.Group]) > 0 && c.State is "running" or "created")
            .Select(c => new ProxyRoute(DockerContainers.Short(c.ID), c.Labels[DockerLabels.Group], int.Parse(c.Labels[DockerLabels.Port], CultureInfo.InvariantCulture)))
            .ToList();
        var previous = await ReadRoutesAsync(proxy.ID, ct);
        var routes = new ProxyRoutes((previous?.Version ?? 0) + 1, weights.Where(w => w.Value > 0).ToDictionary(w => w.Key, w => w.Value, StringComparer.Ordinal), routed);
        await files.WriteAsync(proxy.ID, StateDirectory, "routes.json", routes.ToJson(), ct);
        ProxyApplied? applied = null;
        var confirmed = await Wait.UntilAsync(
            async c => (applied = ProxyApplied.TryParse(await files.ReadAsync(proxy.ID, $"{StateDirectory}/applied.json", c) ?? [])) is not null && applied.Version >= routes.Version,
            SwitchTimeout,
            TimeSpan.FromMilliseconds(50),
            calls.Options.Time,
            ct);
        if (!confirmed)
        {
            throw DockerErrors.Routes(Name, $"version {routes.Version} not applied after {SwitchTimeout.TotalSeconds:0}s (applied: {applied?.Version.ToString(CultureInfo.InvariantCulture) ?? "nothing"})");
        }
    }

    /// <summary>
    /// The app's proxy on this host: a container from an image made once per host and proxy version from a release
    /// image (its .NET runtime) plus the proxy's files, so the proxy never pins a release image.
    /// </summary>
    public async Task<ContainerListResponse> EnsureAsync(DeploymentScope scope, string fromImage, CancellationToken ct)
    {
        var name = DockerLabels.Safe($"immutable-proxy-{scope.Key}");
        var existing = (await containers.OfAppAsync(scope.App, ct)).FirstOrDefault(c => DockerContainers.IsProxyOf(c, scope));
        if (existing is { State: "running" })
        {
            return existing;
        }

        if (existing is not null)
        {
            await calls.Call("remove stopped proxy", () => Client.Containers.RemoveContainerAsync(existing.ID, new ContainerRemoveParameters { Force = true }, ct));
        }

        var proxyImage = await EnsureImageAsync(fromImage, ct);
        var created = await calls.Call("create proxy", () => Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = proxyImage,
            Entrypoint = ["dotnet", $"{ProxyDirectory}/Immutable.Build.LocalHost.dll", "proxy"],
            Cmd = ["--port", Entry.ProxyPort.ToString(CultureInfo.InvariantCulture), "--listen", Entry.ProxyListen, "--scope", scope.Key, "--routes", $"{StateDirectory}/routes.json", "--applied", $"{StateDirectory}/applied.json"],
            WorkingDir = ProxyDirectory,
            Env = ["DOTNET_gcServer=0", "DOTNET_TieredPGO=0"],
            Labels = new Dictionary<string, string>
            {
                [DockerLabels.App] = scope.App,
                [DockerLabels.Environment] = scope.Environment,
                [DockerLabels.Scope] = scope.Key,
                [DockerLabels.Role] = DockerLabels.ProxyRole,
                [DockerLabels.Port] = Entry.ProxyPort.ToString(CultureInfo.InvariantCulture),
            },
            HostConfig = new HostConfig { NetworkMode = "host", RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.UnlessStopped }, Init = true },
        }, ct));
        await calls.Call("start proxy", () => Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct));

        // Up when it has written its first acknowledgement; a proxy that exits first has failed without waiting out the time.
        var acknowledged = false;
        var state = new global::Docker.DotNet.Models.State { Running = true };
        await Wait.UntilAsync(
            async c =>
            {
                acknowledged = ProxyApplied.TryParse(await files.ReadAsync(created.ID, $"{StateDirectory}/applied.json", c) ?? []) is not null;
                if (acknowledged)
                {
                    return true;
                }

                state = (await calls.Call("inspect proxy", () => Client.Containers.InspectContainerAsync(created.ID, c))).State ?? new global::Docker.DotNet.Models.State();
                return !state.Running;
            },
            StartTimeout,
            TimeSpan.FromMilliseconds(100),
            calls.Options.Time,
            ct);
        if (!acknowledged)
        {
            var logs = await containers.TailLogsAsync(created.ID, ct);
            await DockerCalls.TryAsync(() => Client.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true }, ct));
            throw DockerErrors.Proxy(Name, $"{(state.Running ? $"no answer after {StartTimeout.TotalSeconds:0}s" : $"it exited with code {state.ExitCode}")}{(logs.Length == 0 ? "" : $"; its output: {logs}")}");
        }

        calls.Options.Log($"{Name}: started the proxy of {scope.Key} on {Entry.ProxyListen}:{Entry.ProxyPort} ({DockerContainers.Short(created.ID)})");
        return (await containers.OfAppAsync(scope.App, ct)).First(c => c.ID == created.ID);
    }

    /// <summary>Removes proxy images of other proxy versions that no container runs any more (<paramref name="inUse"/>: image ids); the current version's stays.</summary>
    public async Task PruneImagesAsync(IReadOnlySet<string> inUse, CancellationToken ct)
    {
        var current = $"immutable-proxy:{version.Value}";
        var proxies = await images.NamedAsync("immutable-proxy", ct);
        foreach (var image in proxies.Where(i => !inUse.Contains(i.ID)))
        {
            foreach (var tag in (image.RepoTags ?? []).Where(t => t != current && !t.EndsWith("/" + current, StringComparison.Ordinal)))
            {
                await DockerCalls.TryAsync(() => images.DeleteAsync(tag, ct));
                calls.Options.Log($"{Name}: removed the unused proxy image {tag}");
            }
        }
    }

    private async Task<string> EnsureImageAsync(string fromImage, CancellationToken ct)
    {
        var proxyAssembly = calls.Options.ProxyAssembly;
        var directory = Path.GetDirectoryName(Path.GetFullPath(proxyAssembly))!;
        if (!File.Exists(proxyAssembly))
        {
            throw DockerErrors.Proxy(Name, $"its files are missing ({proxyAssembly}); reinstall the package or tool");
        }

        var image = $"immutable-proxy:{version.Value}";
        if (await images.ExistsAsync(image, ct))
        {
            return image;
        }

        var builder = await calls.Call("create proxy image container", () => Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = fromImage,
            Entrypoint = ["dotnet"],
            Labels = new Dictionary<string, string> { [DockerLabels.Role] = "proxy-build" },
        }, ct));
        try
        {
            using var tar = new MemoryStream();
            await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            {
                var dirMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, "immutable/") { Mode = dirMode }, ct);
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, "immutable/proxy/") { Mode = dirMode }, ct);

                // Written by the proxy whatever user the image runs as.
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, "immutable/state/") { Mode = dirMode | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite }, ct);
                foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                {
                    var relative = Path.GetRelativePath(directory, file).Replace('\\', '/');
                    await using var content = File.OpenRead(file);
                    await writer.WriteEntryAsync(DockerFiles.Entry($"immutable/proxy/{relative}", content, calls.Options.Time.GetUtcNow()), ct);
                }
            }

            tar.Position = 0;
            await calls.Call("copy proxy files", () => Client.Containers.ExtractArchiveToContainerAsync(builder.ID, new CopyToContainerParameters { Path = "/" }, tar, ct));
            await calls.Call("commit proxy image", () => Client.Images.CommitContainerChangesAsync(new CommitContainerChangesParameters
            {
                ContainerID = builder.ID,
                RepositoryName = "immutable-proxy",
                Tag = version.Value,
                Comment = "Immutable.Build proxy",
                Labels = new Dictionary<string, string> { [DockerLabels.Role] = "proxy-image" },
            }, ct));
            calls.Options.Log($"{Name}: made the proxy image {image} from {fromImage}");
            return image;
        }
        finally
        {
            await DockerCalls.TryAsync(() => Client.Containers.RemoveContainerAsync(builder.ID, new ContainerRemoveParameters { Force = true }, ct));
        }
    }
}
