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
internal sealed class ScopeStore(IStateStore state, DeploymentScope scope, string stateDirectory, RecordOrigin origin, TimeProvider time, Action<string>? afterWrite, ReleaseLog releaseLog)
{
    // A command reads its logs several times; one warning per torn line is enough.
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);

    public IStateStore State => state;

    public string ReportPath => Path.Combine(Path.GetFullPath(stateDirectory), "rollouts", scope.Key, "last-report.md");

    /// <summary>Makes the report's folder, which a shared store never creates.</summary>
    public string EnsureReportDirectory() => Directory.CreateDirectory(Path.GetDirectoryName(ReportPath)!).FullName;

    public async Task AppendJournalAsync(JournalRecord record, CancellationToken cancellationToken)
    {
        record.Origin ??= origin;
        await AppendAsync(StateLog.Journal, SealedRecord.Seal(JsonSerializer.SerializeToUtf8Bytes(record, RolloutJsonContext.Default.JournalRecord)), $"journal {JournalNames.Of(record.Type)} {record.Step ?? record.Outcome ?? ""} {JournalNames.Of(record.Phase) ?? ""}".TrimEnd(), cancellationToken);
    }

    public Task AppendLedgerAsync(LedgerEntry entry, CancellationToken cancellationToken) =>
        AppendAsync(StateLog.Ledger, SealedRecord.Seal(JsonSerializer.SerializeToUtf8Bytes(entry.Origin is null ? entry with { Origin = origin } : entry, RolloutJsonContext.Default.LedgerEntry)), $"ledger {entry.Type} {entry.Outcome}".TrimEnd(), cancellationToken);

    public async Task<List<JournalRecord>> ReadJournalAsync(CancellationToken cancellationToken) =>
        Parse(StateLog.Journal, await state.ReadAsync(scope.Key, StateLog.Journal, cancellationToken), RolloutJsonContext.Default.JournalRecord);

    public async Task<List<LedgerEntry>> ReadLedgerAsync(CancellationToken cancellationToken) =>
        Parse(StateLog.Ledger, await state.ReadAsync(scope.Key, StateLog.Ledger, cancellationToken), RolloutJsonContext.Default.LedgerEntry);

    /// <summary>The ledger with the entries the journal proves it lost (which the next convergence writes back), in rollout order when any were lost.</summary>
    public async Task<IReadOnlyList<LedgerEntry>> ReadHistoryAsync(CancellationToken cancellationToken)
    {
        var ledger = await ReadLedgerAsync(cancellationToken);
        var lost = LedgerRecovery.Missing(await ReadJournalAsync(cancellationToken), ledger);
        return lost.Count == 0 ? ledger : [.. ReleaseLedger.InRolloutOrder([.. ledger, .. lost])];
    }

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

    /// <summary>Where a log lives, as the user would open it: a path for the file store, the object's address otherwise.</summary>
    public string LogLocation(StateLog log)
    {
        var name = log == StateLog.Journal ? "journal.jsonl" : "ledger.jsonl";
        return state is FileStateStore files ? Path.Combine(files.ScopeDirectory(scope.Key), name) : $"{state.Location.TrimEnd('/')}/{scope.Key}/{name}";
    }

    /// <summary>
    /// The records of a log. A torn line (the last one, or an earlier one that a crash cut short before the store
    /// started the next append on a fresh line) never took effect and is dropped with a warning; any other line that
    /// does not read back as it was written stops the command, because skipping it could drop the current release.
    /// </summary>
    private List<T> Parse<T>(StateLog log, IReadOnlyList<string> lines, JsonTypeInfo<T> type)
    {
        var list = new List<T>();
        for (var n = 0; n < lines.Count; n++)
        {
            var condition = SealedRecord.Open(lines[n], out var json);
            if (condition == LineCondition.Whole && TryDeserialize(json, type) is { } item)
            {
                list.Add(item);
                continue;
            }

            var last = n == lines.Count - 1;
            var where = $"{LogLocation(log)} line {n + 1}";
            if (!last && condition != LineCondition.Torn)
            {
                throw new ImmutableBuildException(
                    StateErrors.CorruptLine,
                    $"{where} is corrupt ({(condition == LineCondition.Corrupt ? "not a record as written, or its checksum does not match" : "not a known record")}): {Quote(lines[n])}. Nothing was changed. Restore the file from a backup, or fix the line, or save it aside and delete line {n + 1}; then run the command again.");
            }

            if (_warned.Add(where))
            {
                releaseLog.Warning(StateErrors.TornTail, $"{where} was torn by an interrupted write and is ignored: {Quote(lines[n])}");
            }
        }

        return list;
    }

    private static T? TryDeserialize<T>(string json, JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(json, type);
        }
        catch (JsonException)
        {
            return default;
        }
    }

    /// <summary>The line as a message can show it: control characters (what damage often leaves) as '?', long lines cut.</summary>
    private static string Quote(string line) => string.Concat(line.Take(120).Select(c => char.IsControl(c) ? '?' : c)) + (line.Length > 120 ? "..." : "");
}
