namespace Immutable.Build.Rollout;

/// <summary>
/// Ledger entries that the journal proves but the ledger lacks: a rollout the journal shows begun and ended always
/// had its ledger line written before its end line, so when that line is gone (torn by a power loss, dropped as a
/// torn tail) the journal says what it was, and the release is not lost from history and rollback.
/// </summary>
internal static class LedgerRecovery
{
    /// <summary>The ended rollouts of <paramref name="journal"/> that have no rollout line in <paramref name="ledger"/>, oldest first.</summary>
    public static IReadOnlyList<LedgerEntry> Missing(IReadOnlyList<JournalRecord> journal, IReadOnlyList<LedgerEntry> ledger)
    {
        var recorded = ledger.Where(e => e.Type == "rollout").Select(e => e.RolloutId).ToHashSet(StringComparer.Ordinal);
        var missing = new List<LedgerEntry>();
        foreach (var end in journal.Where(r => r.Type == JournalKind.End && !recorded.Contains(r.Rollout)))
        {
            if (journal.LastOrDefault(r => r.Type == JournalKind.Begin && r.Rollout == end.Rollout) is not { } begin || missing.Any(m => m.RolloutId == end.Rollout))
            {
                continue;
            }

            var succeeded = end.Outcome == RolloutOutcomes.Succeeded;
            // A rolled-back rollout's groups are the previous ones still alive then; the sweep skips any that died since.
            missing.Add(Entry(begin, end.At, end.Outcome, end.Reason, succeeded, (succeeded ? begin.NextGroups : begin.PreviousGroups) ?? []) with { Origin = end.Origin });
        }

        return missing;
    }

    /// <summary>The ledger line of the rollout <paramref name="begin"/> opened, ended at <paramref name="ended"/>; <paramref name="forward"/>: its release became current, else the previous one stayed.</summary>
    public static LedgerEntry Entry(JournalRecord begin, DateTimeOffset ended, string? outcome, string? reason, bool forward, IReadOnlyList<string> currentGroups) => new()
    {
        RolloutId = begin.Rollout,
        Seq = begin.Seq,
        Trigger = begin.Trigger,
        Release = begin.Release,
        Strategy = begin.Strategy,
        Replicas = begin.Replicas ?? 0,
        StartedAt = begin.At,
        EndedAt = ended,
        Outcome = outcome,
        Reason = reason,
        Current = forward ? begin.Release : begin.PreviousRelease,
        CurrentGroups = currentGroups,
    };
}
