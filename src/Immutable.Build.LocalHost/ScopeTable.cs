using Immutable.Build.Targets.Local;
using Immutable.Build.Targets;

namespace Immutable.Build.LocalHost;

/// <summary>
/// The scopes and instances a host supervises, and the routing tables published from them to the proxies. Not
/// thread-safe: the supervisor calls it under its lock; the proxies read only the published tables, without one.
/// </summary>
internal sealed class ScopeTable
{
    private readonly Dictionary<string, ScopeEntry> _scopes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Instance> _instances = new(StringComparer.Ordinal);

    public IReadOnlyCollection<ScopeEntry> Scopes => _scopes.Values;

    public IReadOnlyCollection<Instance> Instances => _instances.Values;

    public ScopeEntry? Find(string key) => _scopes.GetValueOrDefault(key);

    /// <summary>Another scope whose proxy listens on <paramref name="port"/>.</summary>
    public ScopeEntry? OtherOnPort(string key, int port) =>
        _scopes.Values.FirstOrDefault(s => s.Key != key && s.Proxy is not null && s.Proxy.Port == port);

    public void Set(ScopeEntry scope) => _scopes[scope.Key] = scope;

    public bool Holds(Instance instance) => _instances.ContainsKey(instance.Id);

    public void Add(Instance instance) => _instances[instance.Id] = instance;

    public List<Instance> InGroup(string key, string group) =>
        _instances.Values.Where(i => i.ScopeKey == key && i.Group == group).ToList();

    public List<Instance> ExitedIn(string key) =>
        _instances.Values.Where(i => i.ScopeKey == key && i.Status == LocalInstanceStatus.Exited).ToList();

    /// <summary>
    /// Drops the instances (their logs stay) and hands back their process handles, for the caller to dispose once
    /// it has left the supervisor's lock: disposing waits for a running Exited handler, which takes that lock.
    /// </summary>
    public List<System.Diagnostics.Process> Forget(IEnumerable<Instance> instances)
    {
        var handles = new List<System.Diagnostics.Process>();
        foreach (var instance in instances)
        {
            _instances.Remove(instance.Id);
            if (instance.Process is { } process)
            {
                handles.Add(process);
            }
        }

        return handles;
    }

    public void ForgetAllInstances() => _instances.Clear();

    /// <summary>Publishes the scope's routing table: its weights over its routable instances.</summary>
    public void Publish(ScopeEntry scope)
    {
        if (scope.Proxy is not null)
        {
            scope.Proxy.Routes = RoutingTable.Build(scope.Weights, _instances.Values.Where(i => i.ScopeKey == scope.Key));
        }
    }

    public void Publish(string key)
    {
        if (_scopes.TryGetValue(key, out var scope))
        {
            Publish(scope);
        }
    }

    public IReadOnlyList<LocalInstance> ListInstances() => Ordered(_instances.Values);

    public LocalScopeState StateOf(ScopeEntry scope) => new(
        scope.Key,
        scope.App,
        scope.Environment,
        scope.LastPort ?? 0,
        scope.Proxy?.Url,
        new Dictionary<string, int>(scope.Weights, StringComparer.Ordinal),
        Ordered(_instances.Values.Where(i => i.ScopeKey == scope.Key)));

    /// <summary>What host-state.json records of the table.</summary>
    public LocalHostState ToHostState() => new(
        _scopes.Values.Select(s => new LocalScopeRecord(s.Key, s.App, s.Environment, s.LastPort ?? 0, s.Weights)).ToList(),
        _instances.Values.Select(i => i.ToRecord()).ToList());

    private static List<LocalInstance> Ordered(IEnumerable<Instance> instances) =>
        instances.OrderBy(i => i.StartedAt).ThenBy(i => i.Id, StringComparer.Ordinal).Select(i => i.ToRecord()).ToList();
}

/// <summary>One app and environment: its proxy (none while its port was taken at restore) and its weights by group.</summary>
internal sealed class ScopeEntry(string key, string app, string environment, ScopeProxy? proxy, Dictionary<string, int> weights)
{
    public string Key { get; } = key;

    public string App { get; } = app;

    public string Environment { get; } = environment;

    public ScopeProxy? Proxy { get; } = proxy;

    public int? LastPort { get; } = proxy?.Port;

    public Dictionary<string, int> Weights { get; set; } = weights;
}
