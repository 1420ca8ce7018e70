using Immutable.Build.Images;
using Immutable.Build.Targets;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Docker;

/// <summary>
/// One Docker host of the target: everything the target does to a single engine, composed of its instances, its
/// release images and its proxy. Every container it creates is labelled (<see cref="DockerLabels"/>), and
/// everything it reports is read back from the engine, so the engine is the source of truth for what runs there.
/// </summary>
internal sealed class DockerHost
{
    private readonly DockerContainers _containers;
    private readonly DockerInstances _instances;
    private readonly DockerImages _images;
    private readonly DockerProxy _proxy;

    public DockerHost(DockerHostEntry entry, DockerTargetOptions options, Lazy<string> proxyVersion)
    {
        Entry = entry;
        var calls = new DockerCalls(entry, options);
        _containers = new DockerContainers(calls);
        _images = new DockerImages(calls);
        _instances = new DockerInstances(calls, _containers);
        _proxy = new DockerProxy(calls, _containers, new DockerFiles(calls), _images, proxyVersion);
    }

    public DockerHostEntry Entry { get; }

    public string Name => Entry.Name;

    /// <summary>The stable URL of the app on this host.</summary>
    public Uri ProxyUrl => new($"http://{Entry.Address}:{Entry.ProxyPort}/");

    public async Task<HostObservation> ObserveAsync(DeploymentScope scope, CancellationToken ct)
    {
        var containers = await _containers.OfAppAsync(scope.App, ct);
        var proxy = containers.LastOrDefault(c => DockerContainers.IsProxyOf(c, scope));
        var instances = _instances.Describe(containers, scope);
        var routes = proxy is null || proxy.State != "running" ? null : await _proxy.ReadRoutesAsync(proxy.ID, ct);
        return new HostObservation(this, instances, routes, proxy is not null);
    }

    /// <summary>Pulls (or loads) the release image, makes sure the proxy runs, and starts the requested number of containers.</summary>
    public async Task<IReadOnlyList<InstanceInfo>> LaunchAsync(LaunchRequest request, CancellationToken ct)
    {
        var digest = Digest.Parse(request.Release.ImageDigest);
        var image = await _images.EnsureAsync(request.Scope, request.Release, digest, ct);
        await _proxy.EnsureAsync(request.Scope, image, ct);
        return await _instances.StartAsync(request, image, digest, ct);
    }

    /// <inheritdoc cref="DockerInstances.WaitStartedAsync"/>
    public Task WaitStartedAsync(IReadOnlyList<InstanceInfo> instances, TimeSpan timeout, CancellationToken ct) =>
        _instances.WaitStartedAsync(instances, timeout, ct);

    /// <inheritdoc cref="DockerProxy.SwitchAsync"/>
    public Task RouteAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weights, CancellationToken ct) =>
        _proxy.SwitchAsync(scope, weights, ct);

    /// <inheritdoc cref="DockerInstances.DecommissionAsync"/>
    public Task<int> DecommissionAsync(DeploymentScope scope, string group, TimeSpan grace, CancellationToken ct) =>
        _instances.DecommissionAsync(scope, group, grace, ct);

    /// <summary>Removes the app's release images whose digest is not kept and that no container uses, then unused proxy images of other versions.</summary>
    public async Task PruneAsync(DeploymentScope scope, IReadOnlyCollection<string> keepDigests, CancellationToken ct)
    {
        var keep = keepDigests.Select(d => Digest.Parse(d).Hex).ToHashSet(StringComparer.Ordinal);
        var inUse = (await _containers.AllAsync(ct)).Select(c => c.ImageID).ToHashSet(StringComparer.Ordinal);
        await _images.PruneReleasesAsync(scope, keep, inUse, ct);
        await _proxy.PruneImagesAsync(inUse, ct);
    }
}

/// <summary>What one host runs for a scope.</summary>
internal sealed record HostObservation(DockerHost Host, IReadOnlyList<InstanceInfo> Instances, ProxyRoutes? Routes, bool HasProxy);
