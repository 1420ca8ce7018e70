using Immutable.Build.Targets.Local;
using System.Formats.Tar;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;
using Immutable.Build.Images;
using Immutable.Build.Registry;
using Immutable.Build.Targets;

namespace Immutable.Build.Docker;

/// <summary>
/// One Docker host of the target: everything the target does to a single engine. Every container it creates is
/// labelled (<see cref="DockerLabels"/>), and everything it reports is read back from the engine, so the engine is
/// the source of truth for what runs there.
/// </summary>
internal sealed class DockerHost
{
    private const string StateDirectory = "/immutable/state";
    private const string ProxyDirectory = "/immutable/proxy";
    private readonly DockerTargetOptions _options;
    private readonly Lazy<IDockerClient> _client;

    private readonly Lazy<string> _proxyVersion;

    public DockerHost(DockerHostEntry entry, DockerTargetOptions options, Lazy<string> proxyVersion)
    {
        Entry = entry;
        _proxyVersion = proxyVersion;
        _options = options;
        _client = new Lazy<IDockerClient>(() => entry.Endpoint.CreateClient(options.TlsCertPath));
    }

    public DockerHostEntry Entry { get; }

    public string Name => Entry.Name;

    private IDockerClient Client => _client.Value;

    /// <summary>The stable URL of the app on this host.</summary>
    public Uri ProxyUrl => new($"http://{Entry.Address}:{Entry.ProxyPort}/");

    /// <summary>The local name a release's image gets on the host: the digest is in the tag, so it never moves.</summary>
    public static string ReleaseImageName(DeploymentScope scope, Digest digest) => $"{ReleaseRepository(scope)}:{digest.Hex}";

    private static string ReleaseRepository(DeploymentScope scope) => $"immutable-release/{DockerLabels.Safe(scope.App)}";

    public async Task<HostObservation> ObserveAsync(DeploymentScope scope, CancellationToken ct)
    {
        var containers = await ListAppContainersAsync(scope.App, ct);
        var instances = new List<InstanceInfo>();
        ContainerListResponse? proxy = null;
        foreach (var c in containers)
        {
            var labels = c.Labels ?? new Dictionary<string, string>();
            string? Get(string key) => Label(c, key);
            var role = Get(DockerLabels.Role);
            var environment = Get(DockerLabels.Environment);
            if (role == DockerLabels.ProxyRole)
            {
                if (Get(DockerLabels.Scope) == scope.Key)
                {
                    proxy = c;
                }

                continue;
            }

            if (role is not null && role != DockerLabels.InstanceRole)
            {
                // The target's own helpers (a container that builds the proxy image).
                continue;
            }

            if (role == DockerLabels.InstanceRole && Get(DockerLabels.Managed) == "true")
            {
                if (environment != scope.Environment)
                {
                    continue;
                }

                var port = int.TryParse(Get(DockerLabels.Port), NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : 0;
                instances.Add(new InstanceInfo(
                    Short(c.ID),
                    scope,
                    Get(DockerLabels.Release) ?? "",
                    Get(DockerLabels.Digest) ?? "",
                    Get(DockerLabels.Group) ?? "",
                    new Uri($"http://{Entry.Address}:{port}/"),
                    Status(c)));
            }
            else if (environment is null || environment == scope.Environment)
            {
                // The app's image, run by someone else (docker run, compose): drift to report, never to touch.
                var name = c.Names?.FirstOrDefault()?.TrimStart('/') ?? Short(c.ID);
                instances.Add(new InstanceInfo(
                    Short(c.ID),
                    scope,
                    Get("org.opencontainers.image.revision") is { Length: > 0 } revision ? $"commit {revision}" : "unknown",
                    c.ImageID ?? "",
                    $"unmanaged:{name}",
                    new Uri($"http://{Entry.Address}/"),
                    Status(c),
                    ManagedByRollout: false));
            }
        }

        var routes = proxy is null || proxy.State != "running" ? null : await ReadRoutesAsync(proxy.ID, ct);
        return new HostObservation(this, instances, routes, proxy is not null);
    }

    /// <summary>Pulls (or loads) the release image, makes sure the proxy runs, and starts the requested number of containers.</summary>
    public async Task<IReadOnlyList<InstanceInfo>> LaunchAsync(LaunchRequest request, CancellationToken ct)
    {
        var digest = Digest.Parse(request.Release.ImageDigest);
        var image = await EnsureImageAsync(request.Scope, request.Release, digest, ct);
        await EnsureProxyAsync(request.Scope, image, ct);
        var ports = await AllocatePortsAsync(request.Replicas, ct);
        var launched = new List<InstanceInfo>();
        var ids = new List<string>();
        for (var i = 0; i < request.Replicas; i++)
        {
            var port = ports[i];
            var environment = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                // The image's ports would add listeners of their own on the host network.
                ["ASPNETCORE_URLS"] = $"http://{Entry.BindAddress}:{port}",
                ["ASPNETCORE_HTTP_PORTS"] = "",
                ["ASPNETCORE_HTTPS_PORTS"] = "",
                ["IMMUTABLE_RELEASE_ID"] = request.Release.ReleaseId,
                ["IMMUTABLE_COMMIT"] = request.Release.Commit ?? "",
                ["IMMUTABLE_IMAGE_DIGEST"] = digest.Value,
                ["IMMUTABLE_APP"] = request.Scope.App,
                ["IMMUTABLE_ENVIRONMENT"] = request.Scope.Environment,
                ["IMMUTABLE_GROUP"] = request.Group,
            };
            foreach (var (name, value) in request.Environment)
            {
                environment[name] = value;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [DockerLabels.App] = request.Scope.App,
                [DockerLabels.Environment] = request.Scope.Environment,
                [DockerLabels.Scope] = request.Scope.Key,
                [DockerLabels.Role] = DockerLabels.InstanceRole,
                [DockerLabels.Managed] = "true",
                [DockerLabels.Release] = request.Release.ReleaseId,
                [DockerLabels.Digest] = digest.Value,
                [DockerLabels.Group] = request.Group,
                [DockerLabels.Port] = port.ToString(CultureInfo.InvariantCulture),
                [DockerLabels.Commit] = request.Release.Commit ?? "",
            };
            var created = await Call("create container", () => Client.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Name = DockerLabels.Safe($"{request.Scope.Key}-{request.Group}-{i + 1}"),
                Image = image,
                Env = environment.Select(e => $"{e.Key}={e.Value}").ToList(),
                Labels = labels,
                HostConfig = new HostConfig
                {
                    NetworkMode = "host",
                    RestartPolicy = _options.RestartPolicy,
                    Memory = _options.MemoryBytes,
                    NanoCPUs = _options.NanoCpus,
                    Init = true,
                },
            }, ct));
            ids.Add(created.ID);
            await Call("start container", () => Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct));
            launched.Add(new InstanceInfo(Short(created.ID), request.Scope, request.Release.ReleaseId, digest.Value, request.Group, new Uri($"http://{Entry.Address}:{port}/"), "starting"));
        }

        _options.Log($"{Name}: started {string.Join(", ", launched.Select(l => $"{l.Id} on {l.Address}"))} ({request.Release.ReleaseId}, group {request.Group})");
        return launched;
    }

    /// <summary>Waits until the containers run (and pass the image's HEALTHCHECK when it has one); throws when one stops.</summary>
    public async Task WaitStartedAsync(IReadOnlyList<InstanceInfo> instances, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        var pending = instances.Select(i => i.Id).ToList();
        while (pending.Count > 0)
        {
            foreach (var id in pending.ToList())
            {
                var inspect = await Call("inspect container", () => Client.Containers.InspectContainerAsync(id, ct));
                var state = inspect.State ?? new State();
                if (state.Running && !state.Restarting && state.Health?.Status is null or "" or "none" or "healthy")
                {
                    pending.Remove(id);
                }
                else if (!state.Running && state.Status is "exited" or "dead" || state.Restarting || state.Health?.Status == "unhealthy")
                {
                    var logs = await TailLogsAsync(id, ct);
                    throw DockerErrors.Host(Name, $"starting container {id}", new InvalidOperationException($"it is {(state.Restarting ? "restarting" : state.Health?.Status == "unhealthy" ? "unhealthy" : $"{state.Status} with code {state.ExitCode}")}{(logs.Length == 0 ? "" : $"; its last output: {logs}")}"));
                }
            }

            if (pending.Count == 0)
            {
                break;
            }

            if (DateTimeOffset.UtcNow > deadline)
            {
                throw DockerErrors.Host(Name, "starting containers", new TimeoutException($"{string.Join(", ", pending)} not running after {timeout.TotalSeconds:0}s"));
            }

            await Task.Delay(200, ct);
        }
    }

    /// <summary>Writes the routes of this host's instances to its proxy and waits until the proxy routes by them.</summary>
    public async Task RouteAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weights, CancellationToken ct)
    {
        var containers = await ListAppContainersAsync(scope.App, ct);
        var proxy = containers.FirstOrDefault(c => IsProxyOf(c, scope));
        if (proxy is null || proxy.State != "running")
        {
            if (weights.Values.All(w => w == 0))
            {
                return;
            }

            var image = await AnyReleaseImageAsync(scope, ct) ?? throw DockerErrors.Proxy(Name, "no image of the app is on the host to run it from");
            proxy = await EnsureProxyAsync(scope, image, ct);
        }

        var routed = containers
            .Where(c => IsInstanceOf(c, scope))
            .Where(c => weights.GetValueOrDefault(c.Labels[DockerLabels.Group]) > 0 && c.State is "running" or "created")
            .Select(c => new ProxyRoute(Short(c.ID), c.Labels[DockerLabels.Group], int.Parse(c.Labels[DockerLabels.Port], CultureInfo.InvariantCulture)))
            .ToList();
        var previous = await ReadRoutesAsync(proxy.ID, ct);
        var routes = new ProxyRoutes((previous?.Version ?? 0) + 1, weights.Where(w => w.Value > 0).ToDictionary(w => w.Key, w => w.Value, StringComparer.Ordinal), routed);
        await WriteFileAsync(proxy.ID, StateDirectory, "routes.json", routes.ToJson(), ct);
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            var applied = ProxyApplied.TryParse(await ReadFileAsync(proxy.ID, $"{StateDirectory}/applied.json", ct) ?? []);
            if (applied is not null && applied.Version >= routes.Version)
            {
                return;
            }

            if (DateTimeOffset.UtcNow > deadline)
            {
                throw DockerErrors.Routes(Name, $"version {routes.Version} not applied after 15s (applied: {applied?.Version.ToString(CultureInfo.InvariantCulture) ?? "nothing"})");
            }

            await Task.Delay(50, ct);
        }
    }

    /// <summary>Stops (SIGTERM, then SIGKILL after the grace period) and removes the group's containers.</summary>
    public async Task<int> DecommissionAsync(DeploymentScope scope, string group, TimeSpan grace, CancellationToken ct)
    {
        var containers = (await ListAppContainersAsync(scope.App, ct))
            .Where(c => IsInstanceOf(c, scope) && Label(c, DockerLabels.Group) == group)
            .ToList();
        await Task.WhenAll(containers.Select(async c =>
        {
            if (c.State is "running" or "restarting" or "paused")
            {
                await Call("stop container", () => Client.Containers.StopContainerAsync(c.ID, new ContainerStopParameters { WaitBeforeKillSeconds = (uint)Math.Ceiling(grace.TotalSeconds) }, ct));
            }

            await Call("remove container", () => Client.Containers.RemoveContainerAsync(c.ID, new ContainerRemoveParameters { Force = true }, ct));
        }));
        if (containers.Count > 0)
        {
            _options.Log($"{Name}: stopped and removed {string.Join(", ", containers.Select(c => Short(c.ID)))} (group {group})");
        }

        return containers.Count;
    }

    /// <summary>Removes the app's release images whose digest is not kept and that no container uses.</summary>
    public async Task PruneAsync(DeploymentScope scope, IReadOnlyCollection<string> keepDigests, CancellationToken ct)
    {
        var keep = keepDigests.Select(d => Digest.Parse(d).Hex).ToHashSet(StringComparer.Ordinal);
        var containers = await Call("list containers", () => Client.Containers.ListContainersAsync(new ContainersListParameters { All = true }, ct));
        var inUse = containers.Select(c => c.ImageID).ToHashSet(StringComparer.Ordinal);
        var images = await ImagesNamedAsync(ReleaseRepository(scope), ct);
        var repository = ReleaseRepository(scope);
        foreach (var image in images)
        {
            // Only the release names this target gave (Podman lists pulled-by-digest names among the tags, and may prefix docker.io/).
            foreach (var tag in (image.RepoTags ?? []).Where(t => !t.Contains('@', StringComparison.Ordinal) && (t.StartsWith(repository + ":", StringComparison.Ordinal) || t.StartsWith($"docker.io/{repository}:", StringComparison.Ordinal))))
            {
                var hex = tag[(tag.LastIndexOf(':') + 1)..];
                if (keep.Contains(hex) || inUse.Contains(image.ID))
                {
                    continue;
                }

                // The release tag, then the registry reference it was pulled by: with both gone the image is.
                await Call("remove image", () => DeleteImageAsync(tag, ct));
                foreach (var pulled in (image.RepoDigests ?? []).Where(r => r.EndsWith("@sha256:" + hex, StringComparison.Ordinal)))
                {
                    await TryAsync(() => DeleteImageAsync(pulled, ct));
                }

                _options.Log($"{Name}: removed image {tag}");
            }
        }

        // Proxy images of other proxy versions that no container runs any more (the current version's stays).
        var current = $"immutable-proxy:{_proxyVersion.Value}";
        var proxies = await ImagesNamedAsync("immutable-proxy", ct);
        foreach (var image in proxies.Where(i => !inUse.Contains(i.ID)))
        {
            foreach (var tag in (image.RepoTags ?? []).Where(t => t != current && !t.EndsWith("/" + current, StringComparison.Ordinal)))
            {
                await TryAsync(() => DeleteImageAsync(tag, ct));
                _options.Log($"{Name}: removed the unused proxy image {tag}");
            }
        }
    }

    /// <summary>The proxy's version: a hash of its assembly, read once per target and shared by its hosts.</summary>
    public static Lazy<string> ProxyVersionOf(string proxyAssembly) => new(() =>
        File.Exists(proxyAssembly) ? Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(proxyAssembly)))[..16].ToLowerInvariant() : "none");

    /// <summary>Removes an image reference; one already gone is what was wanted.</summary>
    private async Task DeleteImageAsync(string reference, CancellationToken ct)
    {
        try
        {
            await Client.Images.DeleteImageAsync(reference, new ImageDeleteParameters(), ct);
        }
        catch (DockerImageNotFoundException)
        {
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
        }
    }

    private async Task<string> EnsureImageAsync(DeploymentScope scope, ReleaseRef release, Digest digest, CancellationToken ct)
    {
        var name = ReleaseImageName(scope, digest);
        if (await ImageExistsAsync(name, ct))
        {
            return name;
        }

        var repository = ReleaseRepository(scope);
        if (release.ImageSource.StartsWith("oci:", StringComparison.Ordinal))
        {
            await LoadFromLayoutAsync(release.ImageSource[4..], digest, name, ct);
            _options.Log($"{Name}: loaded {release.ReleaseId} ({digest}) from the OCI layout {release.ImageSource[4..]}");
        }
        else
        {
            var reference = ImageReference.Parse(release.ImageSource);
            var registry = reference.Registry ?? ImageReference.DockerHub;
            var from = $"{(reference.Registry is null ? "" : reference.Registry + "/")}{reference.Repository}";
            var credential = await new RegistryCredentials(_options.GetEnvironmentVariable).ResolveAsync(registry, ct);
            var auth = credential is null ? new AuthConfig() : new AuthConfig
            {
                ServerAddress = registry,
                Username = credential.IdentityToken is null ? credential.Username : null,
                Password = credential.IdentityToken is null ? credential.Password : null,
                IdentityToken = credential.IdentityToken,
            };
            string? error = null;
            var progress = new Progress<JSONMessage>(m => error = m.Error?.Message ?? error);
            try
            {
                await Client.Images.CreateImageAsync(new ImagesCreateParameters { FromImage = from, Tag = digest.Value }, auth, progress, ct);
            }
            catch (DockerApiException e)
            {
                // The engine answered: the registry refused or failed the pull (not found, unauthorized, unreachable from the host).
                throw DockerErrors.Image(Name, $"{from}@{digest}", $"{(int)e.StatusCode} {e.ResponseBody?.Trim()}");
            }
            catch (Exception e) when (IsHostFailure(e))
            {
                throw DockerErrors.Host(Name, $"pull {from}@{digest}", e);
            }

            if (!await ImageExistsAsync($"{from}@{digest}", ct))
            {
                throw DockerErrors.Image(Name, $"{from}@{digest}", error ?? "the engine reported no image after the pull");
            }

            await Call("tag image", () => Client.Images.TagImageAsync($"{from}@{digest}", new ImageTagParameters { RepositoryName = repository, Tag = digest.Hex }, ct));
            _options.Log($"{Name}: pulled {release.ReleaseId} as {from}@{digest}");
        }

        return name;
    }

    /// <summary>Streams the layout's image to the engine as a docker-archive (the engine of Docker 20.10 loads no OCI archives).</summary>
    private async Task LoadFromLayoutAsync(string layout, Digest digest, string name, CancellationToken ct)
    {
        string Blob(string d) => Path.Combine(layout, "blobs", "sha256", Digest.Parse(d).Hex);
        if (!File.Exists(Blob(digest.Value)))
        {
            throw DockerErrors.Image(Name, name, $"the OCI layout {layout} holds no manifest {digest}; publish the release again");
        }

        var manifest = ImageJson.ParseManifest(await File.ReadAllBytesAsync(Blob(digest.Value), ct), $"The manifest {digest} in {layout}");
        var temp = Path.Combine(Path.GetTempPath(), $"immutable-load-{Guid.NewGuid():N}.tar");
        try
        {
            await using (var file = File.Create(temp))
            await using (var tar = new TarWriter(file, TarEntryFormat.Pax, leaveOpen: false))
            {
                var config = $"{Digest.Parse(manifest.Config.Digest).Hex}.json";
                var layers = manifest.Layers.Select(l => $"{Digest.Parse(l.Digest).Hex}/layer.tar").ToList();
                var json = new MemoryStream();
                using (var writer = new Utf8JsonWriter(json))
                {
                    writer.WriteStartArray();
                    writer.WriteStartObject();
                    writer.WriteString("Config", config);
                    writer.WriteStartArray("RepoTags");
                    writer.WriteStringValue(name);
                    writer.WriteEndArray();
                    writer.WriteStartArray("Layers");
                    layers.ForEach(writer.WriteStringValue);
                    writer.WriteEndArray();
                    writer.WriteEndObject();
                    writer.WriteEndArray();
                }

                await tar.WriteEntryAsync(FileEntry("manifest.json", new MemoryStream(json.ToArray()), DateTimeOffset.UnixEpoch), ct);
                await using (var configStream = File.OpenRead(Blob(manifest.Config.Digest)))
                {
                    await tar.WriteEntryAsync(FileEntry(config, configStream, DateTimeOffset.UnixEpoch), ct);
                }

                for (var i = 0; i < layers.Count; i++)
                {
                    // The engine decompresses gzip layers itself.
                    await using var layer = File.OpenRead(Blob(manifest.Layers[i].Digest));
                    await tar.WriteEntryAsync(FileEntry(layers[i], layer, DateTimeOffset.UnixEpoch), ct);
                }
            }

            await using var archive = File.OpenRead(temp);
            string? error = null;
            await Call("load image", () => Client.Images.LoadImageAsync(new ImageLoadParameters { Quiet = true }, archive, new Progress<JSONMessage>(m => error = m.Error?.Message ?? error), ct));
            if (!await ImageExistsAsync(name, ct))
            {
                throw DockerErrors.Image(Name, name, error ?? "the engine reported no image after the load");
            }
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>A regular file readable by any user of the container (mode 0644).</summary>
    private static PaxTarEntry FileEntry(string name, Stream content, DateTimeOffset modified) =>
        new(TarEntryType.RegularFile, name) { DataStream = content, Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, ModificationTime = modified };

    /// <summary>
    /// The app's proxy on this host: a container from an image made once per host and proxy version from a release
    /// image (its .NET runtime) plus the proxy's files, so the proxy never pins a release image.
    /// </summary>
    private async Task<ContainerListResponse> EnsureProxyAsync(DeploymentScope scope, string fromImage, CancellationToken ct)
    {
        var name = DockerLabels.Safe($"immutable-proxy-{scope.Key}");
        var existing = (await ListAppContainersAsync(scope.App, ct)).FirstOrDefault(c => IsProxyOf(c, scope));
        if (existing is { State: "running" })
        {
            return existing;
        }

        if (existing is not null)
        {
            await Call("remove stopped proxy", () => Client.Containers.RemoveContainerAsync(existing.ID, new ContainerRemoveParameters { Force = true }, ct));
        }

        var proxyImage = await EnsureProxyImageAsync(fromImage, ct);
        var created = await Call("create proxy", () => Client.Containers.CreateContainerAsync(new CreateContainerParameters
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
        await Call("start proxy", () => Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct));

        // Up when it has written its first acknowledgement.
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30);
        while (ProxyApplied.TryParse(await ReadFileAsync(created.ID, $"{StateDirectory}/applied.json", ct) ?? []) is null)
        {
            var state = (await Call("inspect proxy", () => Client.Containers.InspectContainerAsync(created.ID, ct))).State ?? new State();
            if (!state.Running || DateTimeOffset.UtcNow > deadline)
            {
                var logs = await TailLogsAsync(created.ID, ct);
                await TryAsync(() => Client.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true }, ct));
                throw DockerErrors.Proxy(Name, $"{(state.Running ? "no answer after 30s" : $"it exited with code {state.ExitCode}")}{(logs.Length == 0 ? "" : $"; its output: {logs}")}");
            }

            await Task.Delay(100, ct);
        }

        _options.Log($"{Name}: started the proxy of {scope.Key} on {Entry.ProxyListen}:{Entry.ProxyPort} ({Short(created.ID)})");
        return (await ListAppContainersAsync(scope.App, ct)).First(c => c.ID == created.ID);
    }

    private async Task<string> EnsureProxyImageAsync(string fromImage, CancellationToken ct)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(_options.ProxyAssembly))!;
        if (!File.Exists(_options.ProxyAssembly))
        {
            throw DockerErrors.Proxy(Name, $"its files are missing ({_options.ProxyAssembly}); reinstall the package or tool");
        }

        var version = _proxyVersion.Value;
        var image = $"immutable-proxy:{version}";
        if (await ImageExistsAsync(image, ct))
        {
            return image;
        }

        var builder = await Call("create proxy image container", () => Client.Containers.CreateContainerAsync(new CreateContainerParameters
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
                    await writer.WriteEntryAsync(FileEntry($"immutable/proxy/{relative}", content, DateTimeOffset.UtcNow), ct);
                }
            }

            tar.Position = 0;
            await Call("copy proxy files", () => Client.Containers.ExtractArchiveToContainerAsync(builder.ID, new CopyToContainerParameters { Path = "/" }, tar, ct));
            await Call("commit proxy image", () => Client.Images.CommitContainerChangesAsync(new CommitContainerChangesParameters
            {
                ContainerID = builder.ID,
                RepositoryName = "immutable-proxy",
                Tag = version,
                Comment = "Immutable.Build proxy",
                Labels = new Dictionary<string, string> { [DockerLabels.Role] = "proxy-image" },
            }, ct));
            _options.Log($"{Name}: made the proxy image {image} from {fromImage}");
            return image;
        }
        finally
        {
            await TryAsync(() => Client.Containers.RemoveContainerAsync(builder.ID, new ContainerRemoveParameters { Force = true }, ct));
        }
    }

    private async Task<string?> AnyReleaseImageAsync(DeploymentScope scope, CancellationToken ct)
    {
        var images = await ImagesNamedAsync(ReleaseRepository(scope), ct);
        return images.SelectMany(i => i.RepoTags ?? []).FirstOrDefault();
    }

    private async Task<IList<ImagesListResponse>> ImagesNamedAsync(string repository, CancellationToken ct) =>
        await Call("list images", () => Client.Images.ListImagesAsync(new ImagesListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["reference"] = new Dictionary<string, bool> { [repository] = true } },
        }, ct));

    private async Task<List<int>> AllocatePortsAsync(int count, CancellationToken ct)
    {
        var all = await Call("list containers", () => Client.Containers.ListContainersAsync(new ContainersListParameters { All = true }, ct));
        var used = all.Select(c => Label(c, DockerLabels.Port)).Where(p => p is not null).Select(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0).ToHashSet();
        var free = Enumerable.Range(Entry.FirstPort, Entry.LastPort - Entry.FirstPort + 1).Where(p => !used.Contains(p)).Take(count).ToList();
        return free.Count == count ? free : throw DockerErrors.Ports(Name, $"{Entry.FirstPort}-{Entry.LastPort}");
    }

    private async Task<IList<ContainerListResponse>> ListAppContainersAsync(string app, CancellationToken ct) =>
        await Call("list containers", () => Client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{DockerLabels.App}={app}"] = true } },
        }, ct));

    private async Task<bool> ImageExistsAsync(string name, CancellationToken ct)
    {
        try
        {
            await Client.Images.InspectImageAsync(name, ct);
            return true;
        }
        catch (DockerImageNotFoundException)
        {
            return false;
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
        catch (Exception e) when (IsHostFailure(e))
        {
            throw DockerErrors.Host(Name, "inspect image", e);
        }
    }

    private async Task<ProxyRoutes?> ReadRoutesAsync(string container, CancellationToken ct) =>
        ProxyRoutes.TryParse(await ReadFileAsync(container, $"{StateDirectory}/routes.json", ct) ?? []);

    private async Task<byte[]?> ReadFileAsync(string container, string path, CancellationToken ct)
    {
        ContainerArchiveResponse response;
        try
        {
            response = await Client.Containers.GetArchiveFromContainerAsync(container, new ContainerPathStatParameters { Path = path }, false, ct);
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (Exception e) when (IsHostFailure(e))
        {
            throw DockerErrors.Host(Name, $"read {path}", e);
        }

        await using var stream = response.Stream ?? Stream.Null;
        await using var reader = new TarReader(stream);
        while (await reader.GetNextEntryAsync(copyData: false, ct) is { } entry)
        {
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.DataStream is { } data)
            {
                using var copy = new MemoryStream();
                await data.CopyToAsync(copy, ct);
                return copy.ToArray();
            }
        }

        return null;
    }

    private async Task WriteFileAsync(string container, string directory, string name, byte[] content, CancellationToken ct)
    {
        using var tar = new MemoryStream();
        await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            await writer.WriteEntryAsync(FileEntry(name, new MemoryStream(content), DateTimeOffset.UtcNow), ct);
        }

        tar.Position = 0;
        await Call($"write {directory}/{name}", () => Client.Containers.ExtractArchiveToContainerAsync(container, new CopyToContainerParameters { Path = directory }, tar, ct));
    }

    private async Task<string> TailLogsAsync(string container, CancellationToken ct)
    {
        try
        {
            using var logs = await Client.Containers.GetContainerLogsAsync(container, new ContainerLogsParameters { ShowStdout = true, ShowStderr = true, Tail = "8" }, ct);
            var (stdout, stderr) = await logs.ReadOutputToEndAsync(ct);
            return string.Join(" | ", (stdout + stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(8));
        }
        catch (Exception e) when (IsHostFailure(e))
        {
            return "";
        }
    }

    private static string Status(ContainerListResponse c)
    {
        var detail = c.Status ?? "";
        return c.State switch
        {
            "running" when detail.Contains("(health: starting)", StringComparison.Ordinal) => "starting",
            "running" when detail.Contains("(unhealthy)", StringComparison.Ordinal) => "unhealthy",
            "running" => "running",
            "created" => "starting",
            "restarting" => "restarting",
            "exited" or "dead" => "exited",
            var other => other ?? "unknown",
        };
    }

    private static bool IsProxyOf(ContainerListResponse c, DeploymentScope scope) => Label(c, DockerLabels.Role) == DockerLabels.ProxyRole && Label(c, DockerLabels.Scope) == scope.Key;

    private static bool IsInstanceOf(ContainerListResponse c, DeploymentScope scope) => Label(c, DockerLabels.Role) == DockerLabels.InstanceRole && Label(c, DockerLabels.Scope) == scope.Key;

    private static string? Label(ContainerListResponse c, string key) => c.Labels is { } labels && labels.TryGetValue(key, out var value) ? value : null;

    private static string Short(string id) => id.Length > 12 ? id[..12] : id;

    private async Task<T> Call<T>(string what, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (IsHostFailure(e))
        {
            throw DockerErrors.Host(Name, what, e);
        }
    }

    private async Task Call(string what, Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (Exception e) when (IsHostFailure(e))
        {
            throw DockerErrors.Host(Name, what, e);
        }
    }

    /// <summary>What an unreachable or failing engine throws (the client wraps some of it in AggregateException); not our own errors or a cancellation.</summary>
    private static bool IsHostFailure(Exception e) => e is not ImmutableBuildException and not OperationCanceledException and not ArgumentException;

    private static async Task TryAsync(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (Exception e) when (IsHostFailure(e))
        {
            // Clean-up only; what it leaves is found and removed by the next run.
        }
    }
}

/// <summary>What one host runs for a scope.</summary>
internal sealed record HostObservation(DockerHost Host, IReadOnlyList<InstanceInfo> Instances, ProxyRoutes? Routes, bool HasProxy);
