using Immutable.Build.Targets.Local;

namespace Immutable.Build.LocalHost;

/// <summary>
/// An immutable snapshot of a scope's routes: groups with their weights and routable instances. The proxy
/// reads the current snapshot once per request, so a weight switch is atomic: a request in flight keeps the
/// instance it was given, the next request sees the new weights.
/// </summary>
internal sealed class RoutingTable
{
    private readonly Route[] _routes;

    private RoutingTable(Route[] routes) => _routes = routes;

    public static RoutingTable Empty { get; } = new([]);

    public static RoutingTable Build(IReadOnlyDictionary<string, int> weights, IEnumerable<Instance> instances)
    {
        var byGroup = instances.Where(i => i.IsRoutable).GroupBy(i => i.Group, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
        var routes = weights
            .Where(w => w.Value > 0)
            .OrderBy(w => w.Key, StringComparer.Ordinal)
            .Select(w => new Route(w.Key, w.Value, byGroup.GetValueOrDefault(w.Key) ?? []))
            .ToArray();
        return new RoutingTable(routes);
    }

    /// <summary>
    /// A group by weight among the routed groups that have a live instance (so a group whose instances all
    /// died gives its share to the others, and a group at weight 0 never gets any), then an instance of it,
    /// round robin; instances already listening are preferred to ones still starting.
    /// </summary>
    public Instance? Pick(Instance? except)
    {
        Span<int> weights = stackalloc int[_routes.Length];
        var total = 0;
        for (var i = 0; i < _routes.Length; i++)
        {
            weights[i] = _routes[i].HasLive(except) ? _routes[i].Weight : 0;
            total += weights[i];
        }

        if (total == 0)
        {
            return null;
        }

        var roll = Random.Shared.Next(total);
        for (var i = 0; i < _routes.Length; i++)
        {
            if (roll < weights[i])
            {
                return _routes[i].Next(except);
            }

            roll -= weights[i];
        }

        return null;
    }

    /// <summary>
    /// One group's instances. The statuses are live (an instance may die between snapshots), so they are read at
    /// each pick, but with plain loops: a pick runs on every request and allocates nothing.
    /// </summary>
    private sealed class Route(string group, int weight, Instance[] instances)
    {
        private int _next = -1;

        public string Group { get; } = group;

        public int Weight { get; } = weight;

        public bool HasLive(Instance? except)
        {
            foreach (var instance in instances)
            {
                if (instance != except && instance.IsRoutable)
                {
                    return true;
                }
            }

            return false;
        }

        public Instance? Next(Instance? except)
        {
            var start = (uint)Interlocked.Increment(ref _next);
            return Find(start, except, runningOnly: true) ?? Find(start, except, runningOnly: false);
        }

        /// <summary>Round robin from <paramref name="start"/>: the first instance at or after it that qualifies.</summary>
        private Instance? Find(uint start, Instance? except, bool runningOnly)
        {
            for (var n = 0; n < instances.Length; n++)
            {
                var instance = instances[(int)((start + (uint)n) % (uint)instances.Length)];
                if (instance != except && (runningOnly ? instance.Status == LocalInstanceStatus.Running : instance.IsRoutable))
                {
                    return instance;
                }
            }

            return null;
        }
    }
}
