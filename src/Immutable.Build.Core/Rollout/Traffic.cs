using System.Globalization;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>Traffic weights: how percentages are split over groups and how a routing is written in messages.</summary>
internal static class Traffic
{
    /// <summary>Splits <paramref name="total"/> percent over groups in proportion to their sizes (largest remainder, so the parts sum exactly).</summary>
    public static Dictionary<string, int> Split(int total, IReadOnlyList<(string Group, int Size)> groups)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        var size = groups.Sum(g => Math.Max(g.Size, 0));
        if (groups.Count == 0 || total <= 0)
        {
            foreach (var g in groups)
            {
                result[g.Group] = 0;
            }

            return result;
        }

        var shares = groups.Select(g => (g.Group, Exact: size == 0 ? (double)total / groups.Count : (double)total * Math.Max(g.Size, 0) / size)).ToList();
        foreach (var (g, exact) in shares)
        {
            result[g] = (int)Math.Floor(exact);
        }

        var left = total - result.Values.Sum();
        foreach (var (g, _) in shares.OrderByDescending(s => s.Exact - Math.Floor(s.Exact)).ThenBy(s => s.Group, StringComparer.Ordinal).Take(left))
        {
            result[g]++;
        }

        return result;
    }

    /// <summary>
    /// <paramref name="nextPercent"/> over the run's launched groups and the rest over the running <paramref name="previous"/>
    /// groups; with no previous group alive, the new release takes everything.
    /// </summary>
    public static Dictionary<string, int> Weights(RolloutRun run, int nextPercent, IReadOnlyList<string> previous, TargetState observed)
    {
        var previousSizes = previous.Select(g => (g, observed.Instances.Count(i => i.Group == g && InstanceStatus.IsRunning(i.Status)))).Where(p => p.Item2 > 0).ToList();
        if (previousSizes.Count == 0)
        {
            nextPercent = 100;
        }

        var weights = Split(nextPercent, run.Launched.Select(l => (l.Key, l.Value)).ToList());
        foreach (var (g, w) in Split(100 - nextPercent, previousSizes))
        {
            weights[g] = w;
        }

        return weights;
    }

    /// <summary>"r2-v2 10%, r1-v1 90%", or "no traffic".</summary>
    public static string Describe(IReadOnlyDictionary<string, int> weights) =>
        weights.Count == 0 ? "no traffic" : string.Join(", ", weights.Select(w => string.Create(CultureInfo.InvariantCulture, $"{w.Key} {w.Value}%")));
}
