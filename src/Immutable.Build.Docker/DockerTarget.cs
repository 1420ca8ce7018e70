using Immutable.Build.Targets;

namespace Immutable.Build.Docker;

/// <summary>
/// Rollouts to one or many Docker hosts through the Engine API. Each instance is a container on the host network,
/// labelled with app, environment, release and group; each host runs the app's proxy (a container of the project's
/// YARP proxy) on a stable port, and switching traffic rewrites that proxy's routes. A group spans every host;
/// hosts are launched in batches (host by host by default), and any failure names its host so the engine rolls back
/// everywhere.
/// </summary>
public sealed class DockerTarget : IDeploymentTarget
{
    private readonly DockerTargetOptions _options;
    private readonly IReadOnlyList<DockerHost> _hosts;

    /// <summary>Creates the target; nothing is contacted until a method runs.</summary>
    public DockerTarget(DockerTargetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Hosts.Count == 0)
        {
            throw DockerErrors.Setting("ImmutableDockerHosts", "", "give at least one engine endpoint");
        }

        _options = options;
        var proxyVersion = DockerProxy.VersionOf(options.ProxyAssembly);
        _hosts = options.Hosts.Select(h => new DockerHost(h, options, proxyVersion)).ToList();
    }

    /// <inheritdoc />
    public string Name => "docker";

    /// <inheritdoc />
    public async Task<TargetState> ObserveAsync(DeploymentScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var results = await Task.WhenAll(_hosts.Select(async h =>
        {
            try
            {
                return (Observation: await h.ObserveAsync(scope, cancellationToken), Error: (string?)null);
            }
            catch (ImmutableBuildException e)
            {
                return (Observation: (HostObservation?)null, Error: $"{h.Name} is unreachable ({e.Message})");
            }
        }));
        var observed = results.Where(r => r.Observation is not null).Select(r => r.Observation!).ToList();
        var instances = observed.SelectMany(o => o.Instances).ToList();

        // Every host routes alike; when they differ (a switch that reached only some), report no agreed weights so the
        // next convergence routes them all again.
        var routed = observed.Where(o => o.HasProxy).Select(o => o.Routes?.Weights ?? new Dictionary<string, int>()).ToList();
        var weights = routed.Count == 0 ? new Dictionary<string, int>()
            : routed.All(r => Same(r, routed[0])) ? new Dictionary<string, int>(routed[0], StringComparer.Ordinal)
            : new Dictionary<string, int>();
        return new TargetState(instances, weights, _hosts[0].ProxyUrl)
        {
            Unreachable = results.Where(r => r.Error is not null).Select(r => r.Error!).ToList(),
        };
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<InstanceInfo>> LaunchAsync(LaunchRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Replicas is < 1 or > 256)
        {
            throw DockerErrors.Setting("ImmutableReplicas", request.Replicas.ToString(System.Globalization.CultureInfo.InvariantCulture), "give 1 to 256 containers per host");
        }

        var batch = _options.HostBatch <= 0 ? _hosts.Count : _options.HostBatch;
        var launched = new List<InstanceInfo>();
        foreach (var hosts in _hosts.Chunk(batch))
        {
            var results = await Task.WhenAll(hosts.Select(async h =>
            {
                var instances = await h.LaunchAsync(request, cancellationToken);
                await h.WaitStartedAsync(instances, _options.StartTimeout, cancellationToken);
                return instances;
            }));
            launched.AddRange(results.SelectMany(r => r));
        }

        return launched;
    }

    /// <inheritdoc />
    public Task RouteAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weightsByGroup, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(weightsByGroup);
        var total = weightsByGroup.Values.Sum();
        if (weightsByGroup.Values.Any(w => w is < 0 or > 100) || total is not 0 and not 100)
        {
            throw DockerErrors.Setting("weights", string.Join(", ", weightsByGroup.Select(w => $"{w.Key}={w.Value}")), "each 0-100, summing to 100 (or 0 to route nothing)");
        }

        return OnEveryHostAsync(h => h.RouteAsync(scope, weightsByGroup, cancellationToken), cancellationToken);
    }

    /// <inheritdoc />
    public async Task DecommissionAsync(DeploymentScope scope, string group, TimeSpan drain, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);

        // The proxies stopped sending new requests to the group when traffic moved (they confirmed it). Requests in
        // flight are drained by the stop itself: SIGTERM makes ASP.NET Core finish them before it exits, and the
        // stop waits up to the longer of the drain and the stop grace before it kills.
        var grace = drain > _options.StopGrace ? drain : _options.StopGrace;
        await OnEveryHostAsync(h => h.DecommissionAsync(scope, group, grace, cancellationToken), cancellationToken);
    }

    /// <inheritdoc />
    public Task PruneAsync(DeploymentScope scope, IReadOnlyCollection<string> keepImageDigests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(keepImageDigests);
        return OnEveryHostAsync(h => h.PruneAsync(scope, keepImageDigests, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Runs on every host at once; every host gets its turn even when another fails, then the failures are thrown
    /// together, each naming its host. A host that does not answer is tried again a few times first (these calls are
    /// idempotent), so a host that was away for a moment is still switched, or rolled back, with the others.
    /// </summary>
    private async Task OnEveryHostAsync(Func<DockerHost, Task> action, CancellationToken cancellationToken)
    {
        var policy = RetryPolicy.FromSchedule(_options.HostRetries);
        var tasks = _hosts.Select(async h =>
        {
            try
            {
                await Retry.RunAsync(
                    policy,
                    _options.Time,
                    async (_, _) =>
                    {
                        await action(h);
                        return true;
                    },
                    outcome => ValueTask.FromResult(outcome.Error is ImmutableBuildException { Code: DockerErrors.HostCode } e ? RetryDecision.Retry(e.Message) : RetryDecision.Stop),
                    cancellationToken,
                    (_, delay, reason) => _options.Log($"{h.Name}: {reason} Trying again in {delay.TotalSeconds:0.#}s."));
                return null;
            }
            catch (ImmutableBuildException e)
            {
                return e;
            }
        }).ToList();
        var failures = (await Task.WhenAll(tasks)).Where(e => e is not null).Select(e => e!).ToList();
        if (failures.Count == 1)
        {
            throw failures[0];
        }

        if (failures.Count > 1)
        {
            throw new ImmutableBuildException(failures[0].Code, string.Join(" ", failures.Select(f => f.Message)));
        }
    }

    private static bool Same(IReadOnlyDictionary<string, int> a, IReadOnlyDictionary<string, int> b) =>
        a.Count(x => x.Value > 0) == b.Count(x => x.Value > 0) && a.Where(x => x.Value > 0).All(x => b.TryGetValue(x.Key, out var v) && v == x.Value);
}
