using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Immutable.Build.State;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>
/// One scope's journal, ledger and lock in the engine's <see cref="IStateStore"/>, as typed records. Every record is
/// stamped with who wrote it and is durable before the engine acts on it, so a line in the store is a promise the
/// next engine, on any runner, can rely on after a crash. The report stays on this machine (last-report.md).
/// </summary>
internal sealed class ScopeStore(IStateStore state, DeploymentScope scope, string stateDirectory, RecordOrigin origin, TimeProvider time, Action<string>? afterWrite)
{
    public IStateStore State => state;

    public string ReportPath => Path.Combine(Path.GetFullPath(stateDirectory), "rollouts", scope.Key, "last-report.md");

    /// <summary>Makes the report's folder, which a shared store never creates.</summary>
    public string EnsureReportDirectory() => PrivateFiles.CreateDirectory(Path.GetDirectoryName(ReportPath)!);

    public async Task AppendJournalAsync(JournalRecord record, CancellationToken cancellationToken)
    {
        record.Origin ??= origin;
        await AppendAsync(StateLog.Journal, JsonSerializer.SerializeToUtf8Bytes(record, RolloutJsonContext.Default.JournalRecord), $"journal {JournalNames.Of(record.Type)} {record.Step ?? record.Outcome ?? ""} {JournalNames.Of(record.Phase) ?? ""}".TrimEnd(), cancellationToken);
    }

    public Task AppendLedgerAsync(LedgerEntry entry, CancellationToken cancellationToken) =>
        AppendAsync(StateLog.Ledger, JsonSerializer.SerializeToUtf8Bytes(entry.Origin is null ? entry with { Origin = origin } : entry, RolloutJsonContext.Default.LedgerEntry), $"ledger {entry.Type} {entry.Outcome}".TrimEnd(), cancellationToken);

    public async Task<List<JournalRecord>> ReadJournalAsync(CancellationToken cancellationToken) =>
        Parse(await state.ReadAsync(scope.Key, StateLog.Journal, cancellationToken), RolloutJsonContext.Default.JournalRecord);

    public async Task<List<LedgerEntry>> ReadLedgerAsync(CancellationToken cancellationToken) =>
        Parse(await state.ReadAsync(scope.Key, StateLog.Ledger, cancellationToken), RolloutJsonContext.Default.LedgerEntry);

    /// <summary>Takes the deploy lock; a stale lock taken over from a dead runner is recorded in the ledger.</summary>
    public async Task<IStateLease> LockAsync(string command, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var lease = await state.AcquireLockAsync(scope.Key, new LockRequest(command, timeout), cancellationToken);
        if (lease.TookOverFrom is { } old)
        {
            try
            {
                await AppendLedgerAsync(LockAudit("lock-takeover", $"took over the deploy lock from {old.Describe()}: its lease passed without renewal"), cancellationToken);
            }
            catch
            {
                await lease.DisposeAsync();
                throw;
            }
        }

        return lease;
    }

    /// <summary>An audit line of the lock (a takeover or a forced release): who did it is its origin.</summary>
    public LedgerEntry LockAudit(string type, string reason) => new()
    {
        Type = type,
        StartedAt = time.GetUtcNow(),
        EndedAt = time.GetUtcNow(),
        Reason = reason,
    };

    private async Task AppendAsync(StateLog log, byte[] json, string what, CancellationToken cancellationToken)
    {
        await state.AppendAsync(scope.Key, log, json, cancellationToken);
        afterWrite?.Invoke(what);
    }

    private static List<T> Parse<T>(IReadOnlyList<string> lines, JsonTypeInfo<T> type)
    {
        var list = new List<T>();
        foreach (var line in lines)
        {
            try
            {
                if (JsonSerializer.Deserialize(line, type) is { } item)
                {
                    list.Add(item);
                }
            }
            catch (JsonException)
            {
                // Only a crash mid-append produces a line that does not parse; it never took effect.
            }
        }

        return list;
    }
}
