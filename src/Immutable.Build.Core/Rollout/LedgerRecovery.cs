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
            missing.Add(new LedgerEntry
            {
                RolloutId = begin.Rollout,
                Seq = begin.Seq,
                Trigger = begin.Trigger,
                Release = begin.Release,
                Strategy = begin.Strategy,
                Replicas = begin.Replicas ?? 0,
                StartedAt = begin.At,
                EndedAt = end.At,
                Outcome = end.Outcome,
                Reason = end.Reason,
                Current = succeeded ? begin.Release : begin.PreviousRelease,
                // A rolled-back rollout's groups are the previous ones still alive then; the sweep skips any that died since.
                CurrentGroups = (succeeded ? begin.NextGroups : begin.PreviousGroups) ?? [],
                Origin = end.Origin,
            });
        }

        return missing;
    }
}
