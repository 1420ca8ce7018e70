using System.Globalization;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>The mutable bookkeeping of one rollout while it runs: what the steps have done so far.</summary>
internal sealed class RolloutRun(DeploymentScope scope, ReleaseRef release, RolloutStrategy strategy, string id, int seq)
{
    public DeploymentScope Scope { get; } = scope;

    public ReleaseRef Release { get; } = release;

    public RolloutStrategy Strategy { get; } = strategy;

    public string Id { get; } = id;

    public int Seq { get; } = seq;

    public string BaseGroup => GroupName(null);

    public ReleaseRef? PreviousRelease { get; init; }

    public List<string> Previous { get; init; } = [];

    public List<string> NextGroups { get; } = [];

    /// <summary>Groups launched so far with their sizes, in launch order.</summary>
    public Dictionary<string, int> Launched { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, int> Weights { get; set; } = new(StringComparer.Ordinal);

    public List<StepRecord> Steps { get; } = [];

    public List<GateResult> Gates { get; } = [];

    public string? LastDescription { get; set; }

    /// <summary>The group of this rollout's release (a rolling batch's when <paramref name="batch"/> is given).</summary>
    public string GroupName(int? batch) => GroupName(Seq, Release.ReleaseId, batch);

    /// <summary><c>r&lt;seq&gt;-&lt;release id&gt;[-b&lt;batch&gt;]</c>, lower case and label-safe (see <see cref="RolloutStrategy"/>).</summary>
    public static string GroupName(int seq, string releaseId, int? batch)
    {
        var safe = new string(releaseId.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray()).Trim('-');
        if (safe.Length > 32)
        {
            safe = safe[..32].TrimEnd('-');
        }

        return string.Create(CultureInfo.InvariantCulture, $"r{seq}-{safe}{(batch is { } b ? $"-b{b}" : "")}");
    }
}
