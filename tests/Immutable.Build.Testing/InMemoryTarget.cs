using Immutable.Build.Targets;

namespace Immutable.Build.Testing;

/// <summary>How instances of a release behave in an <see cref="InMemoryTarget"/>.</summary>
public enum InMemoryHealth
{
    /// <summary>Reported "running".</summary>
    Healthy,

    /// <summary>Reported "unhealthy": never becomes running, so a wait-healthy step times out.</summary>
    Unhealthy,

    /// <summary>Reported "exited", as a crashing process would be.</summary>
    Exits,
}

/// <summary>
/// A target that keeps instances in memory: for engine tests and the engine benchmark. It checks what a real
/// target would (weights total 100 and name only existing groups) so engine mistakes fail loudly, and records
/// every call so tests can prove, for example, that a failed group never got traffic.
/// </summary>
public sealed class InMemoryTarget : IDeploymentTarget
{
    private readonly object _sync = new();
    private readonly Func<LaunchRequest, int, Uri> _addressFor;
    private readonly Dictionary<string, List<Instance>> _instances = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, int>> _weights = new(StringComparer.Ordinal);
    private readonly Dictionary<string, InMemoryHealth> _health = new(StringComparer.Ordinal);
    private readonly List<(string Scope, Dictionary<string, int> Weights)> _routes = [];
    private readonly List<string> _calls = [];
    private long _nextId;

    /// <summary>Creates the target; <paramref name="addressFor"/> (request, index in group) gives instance addresses, by default fake ones.</summary>
    public InMemoryTarget(Func<LaunchRequest, int, Uri>? addressFor = null)
    {
        _addressFor = addressFor ?? ((r, i) => new Uri($"http://{r.Group}-{i}.memory.invalid/"));
    }

    /// <inheritdoc />
    public string Name => "memory";

    /// <summary>Called with the operation name (observe, launch, route, decommission, prune) before each call; throw from it to make the target fail.</summary>
    public Action<string>? BeforeCall { get; set; }

    /// <summary>The last digests <see cref="PruneAsync"/> was told to keep.</summary>
    public IReadOnlyCollection<string>? LastPruneKeep { get; private set; }

    /// <summary>Every launch request, in order.</summary>
    public List<LaunchRequest> Launches { get; } = [];

    /// <summary>Makes instances of <paramref name="releaseId"/> launched from now on behave as <paramref name="health"/>.</summary>
    public void SetHealth(string releaseId, InMemoryHealth health)
    {
        lock (_sync)
        {
            _health[releaseId] = health;
        }
    }

    /// <summary>Every weight map routed for a scope, in order.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, int>> RouteHistory(DeploymentScope scope)
    {
        ArgumentNullException.ThrowIfNull(scope);
        lock (_sync)
        {
            return _routes.Where(r => r.Scope == scope.Key).Select(r => (IReadOnlyDictionary<string, int>)r.Weights).ToList();
        }
    }

    /// <summary>Operation names called so far.</summary>
    public IReadOnlyList<string> Calls
    {
        get
        {
            lock (_sync)
            {
                return [.. _calls];
            }
        }
    }

    /// <summary>Starts an instance no rollout made (someone ran it by hand): drift.</summary>
    public InstanceInfo AddUnmanaged(DeploymentScope scope, string releaseId, string imageDigest, string group)
    {
        ArgumentNullException.ThrowIfNull(scope);
        lock (_sync)
        {
            var instance = new Instance($"mem-{++_nextId}", releaseId, imageDigest, group, new Uri($"http://{group}-manual.memory.invalid/"), InMemoryHealth.Healthy, Managed: false);
            List(scope.Key).Add(instance);
            return instance.ToInfo(scope);
        }
    }

    /// <summary>Makes a running instance exit.</summary>
    public void Kill(DeploymentScope scope, string instanceId)
    {
        ArgumentNullException.ThrowIfNull(scope);
        lock (_sync)
        {
            var list = List(scope.Key);
            var i = list.FindIndex(x => x.Id == instanceId);
            list[i] = list[i] with { Health = InMemoryHealth.Exits };
        }
    }

    /// <inheritdoc />
    public Task<TargetState> ObserveAsync(DeploymentScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        Call("observe");
        lock (_sync)
        {
            var instances = List(scope.Key).Select(i => i.ToInfo(scope)).ToList();
            var weights = new Dictionary<string, int>(Weights(scope.Key), StringComparer.Ordinal);
            return Task.FromResult(new TargetState(instances, weights, new Uri("http://proxy.memory.invalid/")));
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<InstanceInfo>> LaunchAsync(LaunchRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        Call("launch");
        lock (_sync)
        {
            var list = List(request.Scope.Key);
            if (list.Any(i => i.Group == request.Group))
            {
                throw new InvalidOperationException($"group {request.Group} already exists");
            }

            Launches.Add(request);
            var health = _health.GetValueOrDefault(request.Release.ReleaseId);
            var launched = new List<InstanceInfo>(request.Replicas);
            for (var n = 0; n < request.Replicas; n++)
            {
                var instance = new Instance($"mem-{++_nextId}", request.Release.ReleaseId, request.Release.ImageDigest, request.Group, _addressFor(request, n), health, Managed: true);
                list.Add(instance);
                launched.Add(instance.ToInfo(request.Scope));
            }

            return Task.FromResult<IReadOnlyList<InstanceInfo>>(launched);
        }
    }

    /// <inheritdoc />
    public Task RouteAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weightsByGroup, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(weightsByGroup);
        Call("route");
        lock (_sync)
        {
            var groups = List(scope.Key).Select(i => i.Group).ToHashSet(StringComparer.Ordinal);
            var positive = weightsByGroup.Where(w => w.Value != 0).ToList();
            if (positive.Any(w => w.Value < 0 || !groups.Contains(w.Key)) || (positive.Count > 0 && positive.Sum(w => w.Value) != 100))
            {
                throw new InvalidOperationException($"invalid weights {string.Join(", ", weightsByGroup.Select(w => $"{w.Key}={w.Value}"))} for groups {string.Join(", ", groups)}");
            }

            var copy = positive.ToDictionary(w => w.Key, w => w.Value, StringComparer.Ordinal);
            _weights[scope.Key] = copy;
            _routes.Add((scope.Key, new Dictionary<string, int>(weightsByGroup, StringComparer.Ordinal)));
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task DecommissionAsync(DeploymentScope scope, string group, TimeSpan drain, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        Call("decommission");
        lock (_sync)
        {
            List(scope.Key).RemoveAll(i => i.Group == group);
            Weights(scope.Key).Remove(group);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task PruneAsync(DeploymentScope scope, IReadOnlyCollection<string> keepImageDigests, CancellationToken cancellationToken)
    {
        Call("prune");
        LastPruneKeep = [.. keepImageDigests];
        return Task.CompletedTask;
    }

    private void Call(string operation)
    {
        BeforeCall?.Invoke(operation);
        lock (_sync)
        {
            _calls.Add(operation);
        }
    }

    private List<Instance> List(string scope)
    {
        if (!_instances.TryGetValue(scope, out var list))
        {
            _instances[scope] = list = [];
        }

        return list;
    }

    private Dictionary<string, int> Weights(string scope)
    {
        if (!_weights.TryGetValue(scope, out var weights))
        {
            _weights[scope] = weights = new Dictionary<string, int>(StringComparer.Ordinal);
        }

        return weights;
    }

    private sealed record Instance(string Id, string ReleaseId, string ImageDigest, string Group, Uri Address, InMemoryHealth Health, bool Managed)
    {
        public InstanceInfo ToInfo(DeploymentScope scope) => new(Id, scope, ReleaseId, ImageDigest, Group, Address, Health switch
        {
            InMemoryHealth.Healthy => "running",
            InMemoryHealth.Unhealthy => "unhealthy",
            _ => "exited",
        }, Managed);
    }
}
