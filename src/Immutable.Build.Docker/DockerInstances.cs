using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;
using Immutable.Build.Images;
using Immutable.Build.Targets;

namespace Immutable.Build.Docker;

/// <summary>
/// The app's instances on one host: containers on the host network, each on a port of the host's range and labelled
/// with what it runs; started, waited for, described from their labels and stopped.
/// </summary>
internal sealed class DockerInstances(DockerCalls calls, DockerContainers containers)
{
    private string Name => calls.Name;

    private DockerHostEntry Entry => calls.Entry;

    private IDockerClient Client => calls.Client;

    /// <summary>The scope's instances among the app's containers: the ones a rollout made, and the app's image run by someone else.</summary>
    public List<InstanceInfo> Describe(IEnumerable<ContainerListResponse> appContainers, DeploymentScope scope)
    {
        var instances = new List<InstanceInfo>();
        foreach (var c in appContainers)
        {
            string? Get(string key) => DockerContainers.Label(c, key);
            var role = Get(DockerLabels.Role);
            var environment = Get(DockerLabels.Environment);
            if (role == DockerLabels.ProxyRole)
            {
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
                    DockerContainers.Short(c.ID),
                    scope,
                    Get(DockerLabels.Release) ?? "",
                    Get(DockerLabels.Digest) ?? "",
                    Get(DockerLabels.Group) ?? "",
                    new Uri($"http://{Entry.Address}:{port}/"),
                    DockerContainers.Status(c)));
            }
            else if (environment is null || environment == scope.Environment)
            {
                // The app's image, run by someone else (docker run, compose): drift to report, never to touch.
                var name = c.Names?.FirstOrDefault()?.TrimStart('/') ?? DockerContainers.Short(c.ID);
                instances.Add(new InstanceInfo(
                    DockerContainers.Short(c.ID),
                    scope,
                    Get("org.opencontainers.image.revision") is { Length: > 0 } revision ? $"commit {revision}" : "unknown",
                    c.ImageID ?? "",
                    $"unmanaged:{name}",
                    new Uri($"http://{Entry.Address}/"),
                    DockerContainers.Status(c),
                    ManagedByRollout: false));
            }
        }

        return instances;
    }

    /// <summary>Starts the requested number of containers of <paramref name="image"/>, each on a free port of the host's range.</summary>
    public async Task<IReadOnlyList<InstanceInfo>> StartAsync(LaunchRequest request, string image, Digest digest, CancellationToken ct)
    {
        var ports = await AllocatePortsAsync(request.Replicas, ct);
        var launched = new List<InstanceInfo>();
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
            var created = await calls.Call("create container", () => Client.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Name = DockerLabels.Safe($"{request.Scope.Key}-{request.Group}-{i + 1}"),
                Image = image,
                Env = environment.Select(e => $"{e.Key}={e.Value}").ToList(),
                Labels = labels,
                HostConfig = new HostConfig
                {
                    NetworkMode = "host",
                    RestartPolicy = calls.Options.RestartPolicy,
                    Memory = calls.Options.MemoryBytes,
                    NanoCPUs = calls.Options.NanoCpus,
                    Init = true,
                },
            }, ct));
            await calls.Call("start container", () => Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct));
            launched.Add(new InstanceInfo(DockerContainers.Short(created.ID), request.Scope, request.Release.ReleaseId, digest.Value, request.Group, new Uri($"http://{Entry.Address}:{port}/"), "starting"));
        }

        calls.Options.Log($"{Name}: started {string.Join(", ", launched.Select(l => $"{l.Id} on {l.Address}"))} ({request.Release.ReleaseId}, group {request.Group})");
        return launched;
    }

    /// <summary>Waits until the containers run (and pass the image's HEALTHCHECK when it has one); throws when one stops.</summary>
    public async Task WaitStartedAsync(IReadOnlyList<InstanceInfo> instances, TimeSpan timeout, CancellationToken ct)
    {
        var pending = instances.Select(i => i.Id).ToList();
        var started = await Wait.UntilAsync(
            async c =>
            {
                foreach (var id in pending.ToList())
                {
                    var inspect = await calls.Call("inspect container", () => Client.Containers.InspectContainerAsync(id, c));
                    var state = inspect.State ?? new global::Docker.DotNet.Models.State();
                    if (state.Running && !state.Restarting && state.Health?.Status is null or "" or "none" or "healthy")
                    {
                        pending.Remove(id);
                    }
                    else if (!state.Running && state.Status is "exited" or "dead" || state.Restarting || state.Health?.Status == "unhealthy")
                    {
                        var logs = await containers.TailLogsAsync(id, c);
                        throw DockerErrors.Host(Name, $"starting container {id}", new InvalidOperationException($"it is {(state.Restarting ? "restarting" : state.Health?.Status == "unhealthy" ? "unhealthy" : $"{state.Status} with code {state.ExitCode}")}{(logs.Length == 0 ? "" : $"; its last output: {logs}")}"));
                    }
                }

                return pending.Count == 0;
            },
            timeout,
            TimeSpan.FromMilliseconds(200),
            calls.Options.Time,
            ct);
        if (!started)
        {
            throw DockerErrors.Host(Name, "starting containers", new TimeoutException($"{string.Join(", ", pending)} not running after {timeout.TotalSeconds:0}s"));
        }
    }

    /// <summary>Stops (SIGTERM, then SIGKILL after the grace period) and removes the group's containers.</summary>
    public async Task<int> DecommissionAsync(DeploymentScope scope, string group, TimeSpan grace, CancellationToken ct)
    {
        var stopping = (await containers.OfAppAsync(scope.App, ct))
            .Where(c => DockerContainers.IsInstanceOf(c, scope) && DockerContainers.Label(c, DockerLabels.Group) == group)
            .ToList();
        await Task.WhenAll(stopping.Select(async c =>
        {
            if (c.State is "running" or "restarting" or "paused")
            {
                await calls.Call("stop container", () => Client.Containers.StopContainerAsync(c.ID, new ContainerStopParameters { WaitBeforeKillSeconds = (uint)Math.Ceiling(grace.TotalSeconds) }, ct));
            }

            await calls.Call("remove container", () => Client.Containers.RemoveContainerAsync(c.ID, new ContainerRemoveParameters { Force = true }, ct));
        }));
        if (stopping.Count > 0)
        {
            calls.Options.Log($"{Name}: stopped and removed {string.Join(", ", stopping.Select(c => DockerContainers.Short(c.ID)))} (group {group})");
        }

        return stopping.Count;
    }

    private async Task<List<int>> AllocatePortsAsync(int count, CancellationToken ct)
    {
        var all = await containers.AllAsync(ct);
        var used = all.Select(c => DockerContainers.Label(c, DockerLabels.Port)).Where(p => p is not null).Select(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0).ToHashSet();
        var free = Enumerable.Range(Entry.FirstPort, Entry.LastPort - Entry.FirstPort + 1).Where(p => !used.Contains(p)).Take(count).ToList();
        return free.Count == count ? free : throw DockerErrors.Ports(Name, $"{Entry.FirstPort}-{Entry.LastPort}");
    }
}
