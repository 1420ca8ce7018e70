namespace Immutable.Build.Releases;

/// <summary>A property a project sets under the package's prefix that the package never reads, and the known name it most likely meant.</summary>
/// <param name="Name">The name as the project spells it.</param>
/// <param name="Suggestion">The closest known name, or null when none is close enough to be a misspelling of it.</param>
public sealed record UnknownProperty(string Name, string? Suggestion);

/// <summary>
/// Finds misspelt settings: a property that is silently ignored (<c>ImmutableStratgy</c>) turns a canary rollout into
/// a blue-green one without a word, so every name under the prefix that no one reads is reported, with the closest
/// known name when the two differ by a typo or two.
/// </summary>
public static class PropertySpelling
{
    /// <summary>The names of <paramref name="candidates"/> that start with <paramref name="prefix"/> and are not known, once each, in order.</summary>
    /// <remarks>MSBuild property names are case-insensitive, so case never makes a name unknown.</remarks>
    public static IReadOnlyList<UnknownProperty> FindUnknown(IEnumerable<string> candidates, IEnumerable<string> known, string prefix)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(known);
        var knownList = known.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var knownSet = knownList.ToHashSet(StringComparer.OrdinalIgnoreCase);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var unknown = new List<UnknownProperty>();
        foreach (var raw in candidates)
        {
            var name = raw?.Trim() ?? "";
            if (name.Length <= prefix.Length || !name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || knownSet.Contains(name) || !seen.Add(name))
            {
                continue;
            }

            unknown.Add(new UnknownProperty(name, Closest(name, knownList, prefix.Length)));
        }

        return unknown;
    }

    /// <summary>The known name nearest to <paramref name="name"/>, or null when even the nearest is more than a typo away.</summary>
    public static string? Closest(string name, IEnumerable<string> known, int prefixLength = 0)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(known);
        // The allowance grows with the part the user typed: one slip in a short word, up to three in a long one.
        var typed = Math.Max(0, name.Length - prefixLength);
        var allowed = typed <= 4 ? 1 : typed <= 8 ? 2 : 3;
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known.Order(StringComparer.Ordinal))
        {
            var distance = Distance(name, candidate);
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return bestDistance <= allowed ? best : null;
    }

    /// <summary>
    /// Case-insensitive edit distance counting an insertion, a deletion, a substitution or a swap of two
    /// neighbouring letters as one edit (optimal string alignment), the usual shapes of a typo.
    /// </summary>
    public static int Distance(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var x = a.ToUpperInvariant();
        var y = b.ToUpperInvariant();
        var d = new int[x.Length + 1, y.Length + 1];
        for (var i = 0; i <= x.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= y.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= x.Length; i++)
        {
            for (var j = 1; j <= y.Length; j++)
            {
                var cost = x[i - 1] == y[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[x.Length, y.Length];
    }
}
