namespace Immutable.Build.Registry;

/// <summary>
/// Token scopes (<c>repository:team/app:pull,push</c>): what a request needs and what a cached
/// token grants. A token for push,pull also serves pull, so a push does not fetch a token per verb.
/// </summary>
internal sealed class ScopeSet
{
    private readonly SortedDictionary<string, SortedSet<string>> _resources;

    private ScopeSet(SortedDictionary<string, SortedSet<string>> resources) => _resources = resources;

    public static ScopeSet Empty { get; } = new(new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal));

    public bool IsEmpty => _resources.Count == 0;

    public static ScopeSet Pull(string repository) => Repository(repository, "pull");

    public static ScopeSet Push(string repository) => Repository(repository, "pull", "push");

    public static ScopeSet Delete(string repository) => Repository(repository, "delete");

    public static ScopeSet Repository(string repository, params string[] actions) =>
        Empty.With("repository:" + repository, actions);

    /// <summary>Parses the space-separated scope strings of a challenge; malformed entries are ignored.</summary>
    public static ScopeSet Parse(string? scopes)
    {
        var result = Empty;
        if (string.IsNullOrWhiteSpace(scopes))
        {
            return result;
        }

        foreach (var scope in scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var last = scope.LastIndexOf(':');
            if (last <= 0 || scope.IndexOf(':', StringComparison.Ordinal) == last)
            {
                continue;
            }

            result = result.With(scope[..last], scope[(last + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries));
        }

        return result;
    }

    public ScopeSet Union(ScopeSet other)
    {
        var result = this;
        foreach (var (resource, actions) in other._resources)
        {
            result = result.With(resource, actions);
        }

        return result;
    }

    /// <summary>True when every action of every resource in <paramref name="requested"/> is granted here.</summary>
    public bool Covers(ScopeSet requested) =>
        requested._resources.All(r =>
            _resources.TryGetValue(r.Key, out var granted)
            && (granted.Contains("*") || r.Value.All(granted.Contains)));

    public IReadOnlyList<string> ToScopeStrings() =>
        _resources.Select(r => $"{r.Key}:{string.Join(',', r.Value)}").ToList();

    public override string ToString() => string.Join(' ', ToScopeStrings());

    private ScopeSet With(string resource, IEnumerable<string> actions)
    {
        var copy = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var (key, value) in _resources)
        {
            copy[key] = new SortedSet<string>(value, StringComparer.Ordinal);
        }

        if (!copy.TryGetValue(resource, out var set))
        {
            set = new SortedSet<string>(StringComparer.Ordinal);
            copy[resource] = set;
        }

        set.UnionWith(actions);
        return new ScopeSet(copy);
    }
}
