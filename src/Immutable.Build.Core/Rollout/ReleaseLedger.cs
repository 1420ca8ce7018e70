using System.Text.Json.Serialization;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>The outcomes a ledger records.</summary>
public static class RolloutOutcomes
{
    /// <summary>The release became current.</summary>
    public const string Succeeded = "succeeded";

    /// <summary>A gate or the target failed, or the rollout was interrupted; the previous release serves again.</summary>
    public const string RolledBack = "rolled-back";

    /// <summary>The rollout failed and could not be rolled back completely.</summary>
    public const string Failed = "failed";
}

/// <summary>
/// One line of a scope's append-only ledger.jsonl: a finished rollout (deploy, rollback or repair) with its outcome and the
/// release that is current afterwards, or a prune. The last rollout line says what should run.
/// </summary>
public sealed record LedgerEntry
{
    /// <summary>rollout, prune, a lock audit: lock-takeover (a stale lock taken over), lock-release (a forced release), torn-line (a torn line dropped, see <see cref="Dropped"/>), or state-repair (an operator's `immutable state repair`).</summary>
    public string Type { get; init; } = "rollout";

    /// <summary>&lt;scope key&gt;-&lt;seq&gt;.</summary>
    public string RolloutId { get; init; } = "";

    /// <summary>The rollout's sequence number within the scope.</summary>
    public int Seq { get; init; }

    /// <summary>deploy, rollback, or repair (status --repair relaunching a current release that nothing served).</summary>
    public string? Trigger { get; init; }

    /// <summary>The release rolled out.</summary>
    public ReleaseRef? Release { get; init; }

    /// <summary>bluegreen, canary or rolling.</summary>
    public string? Strategy { get; init; }

    /// <summary>Instances the release was rolled out with.</summary>
    public int Replicas { get; init; }

    /// <summary>When the rollout started.</summary>
    public DateTimeOffset StartedAt { get; init; }

    /// <summary>When it ended (or was converged after an interruption).</summary>
    public DateTimeOffset EndedAt { get; init; }

    /// <summary>See <see cref="RolloutOutcomes"/>.</summary>
    public string? Outcome { get; init; }

    /// <summary>Why it did not succeed.</summary>
    public string? Reason { get; init; }

    /// <summary>The release that serves after this entry (null: none).</summary>
    public ReleaseRef? Current { get; init; }

    /// <summary>The groups of <see cref="Current"/>.</summary>
    public IReadOnlyList<string> CurrentGroups { get; init; } = [];

    /// <summary>For a prune: the digests kept.</summary>
    public IReadOnlyList<string>? KeptDigests { get; init; }

    /// <summary>For a torn-line entry: the line dropped.</summary>
    public TornLine? Dropped { get; init; }

    /// <summary>For a line `immutable state repair` replaced: its text as it was found, so the repair loses nothing.</summary>
    public string? DamagedText { get; init; }

    /// <summary>Who wrote the line and from where: user, machine, process, CI run (absent in lines written before records carried it).</summary>
    public State.RecordOrigin? Origin { get; init; }

    /// <summary>True for a successful rollout line.</summary>
    [JsonIgnore]
    public bool IsSuccessfulRollout => Type == "rollout" && Outcome == RolloutOutcomes.Succeeded;
}

/// <summary>The lookups over a scope's ledger that the engine and the adapters share, so that "a release in the ledger" means one thing.</summary>
public static class ReleaseLedger
{
    /// <summary>
    /// The most recent entry that rolled out the release whose id or image digest is <paramref name="idOrDigest"/>;
    /// with <paramref name="successfulOnly"/>, only successful rollouts count. Null when there is none.
    /// </summary>
    public static LedgerEntry? FindRelease(IEnumerable<LedgerEntry> ledger, string idOrDigest, bool successfulOnly = false)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(idOrDigest);
        return InRolloutOrder(ledger).LastOrDefault(e => e.Release is { } r
            && (!successfulOnly || e.IsSuccessfulRollout)
            && (r.ReleaseId == idOrDigest || r.ImageDigest == idOrDigest));
    }

    /// <summary>The latest rollout (highest sequence number): what should run now. Null before the first rollout.</summary>
    internal static LedgerEntry? LastRollout(IEnumerable<LedgerEntry> ledger) => InRolloutOrder(ledger).LastOrDefault(e => e.Type == "rollout");

    /// <summary>
    /// The entries in the order their rollouts ran. The file order is that order except for an entry rebuilt from the
    /// journal after its line was lost, which is appended later than rollouts that followed it.
    /// </summary>
    internal static IEnumerable<LedgerEntry> InRolloutOrder(IEnumerable<LedgerEntry> ledger) => ledger.OrderBy(e => e.Seq);
}
