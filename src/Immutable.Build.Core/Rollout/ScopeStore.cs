using System.Text;
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

    // Torn lines found last in a log and not yet acknowledged by a record after them, by log.
    private readonly Dictionary<StateLog, List<TornLine>> _unacknowledged = [];

    public IStateStore State => state;

    public string ReportPath => Path.Combine(Path.GetFullPath(stateDirectory), "rollouts", scope.Key, "last-report.md");

    /// <summary>Makes the report's folder, which a shared store never creates.</summary>
    public string EnsureReportDirectory() => PrivateFiles.CreateDirectory(Path.GetDirectoryName(ReportPath)!);

    public async Task AppendJournalAsync(JournalRecord record, CancellationToken cancellationToken)
    {
        record.Origin ??= origin;
        await AppendAsync(StateLog.Journal, SealedRecord.Seal(JsonSerializer.SerializeToUtf8Bytes(record, RolloutJsonContext.Default.JournalRecord)), $"journal {JournalNames.Of(record.Type)} {record.Step ?? record.Outcome ?? ""} {JournalNames.Of(record.Phase) ?? ""}".TrimEnd(), cancellationToken);
    }

    public Task AppendLedgerAsync(LedgerEntry entry, CancellationToken cancellationToken) =>
        AppendAsync(StateLog.Ledger, SealedRecord.Seal(JsonSerializer.SerializeToUtf8Bytes(entry.Origin is null ? entry with { Origin = origin } : entry, RolloutJsonContext.Default.LedgerEntry)), $"ledger {entry.Type} {entry.Outcome}".TrimEnd(), cancellationToken);

    public async Task<List<JournalRecord>> ReadJournalAsync(CancellationToken cancellationToken) =>
        Parse(StateLog.Journal, await state.ReadAsync(scope.Key, StateLog.Journal, cancellationToken), RolloutJsonContext.Default.JournalRecord, r => r.Dropped);

    public async Task<List<LedgerEntry>> ReadLedgerAsync(CancellationToken cancellationToken) =>
        Parse(StateLog.Ledger, await state.ReadAsync(scope.Key, StateLog.Ledger, cancellationToken), RolloutJsonContext.Default.LedgerEntry, e => e.Dropped);

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
        // A torn last line that a new line followed unexplained would read as damage next time, so the log is
        // read first (which also stops at a corrupt line before anything is written) and the tear acknowledged.
        if (!_unacknowledged.ContainsKey(log))
        {
            if (log == StateLog.Journal)
            {
                await ReadJournalAsync(cancellationToken);
            }
            else
            {
                await ReadLedgerAsync(cancellationToken);
            }
        }

        var torn = _unacknowledged[log];

        while (torn.Count > 0)
        {
            var dropped = torn[0];
            var note = $"line {dropped.Line} was torn by an interrupted write and is ignored";
            var record = log == StateLog.Journal
                ? JsonSerializer.SerializeToUtf8Bytes(new JournalRecord { Type = JournalKind.Torn, At = time.GetUtcNow(), Dropped = dropped, Reason = note, Origin = origin }, RolloutJsonContext.Default.JournalRecord)
                : JsonSerializer.SerializeToUtf8Bytes(new LedgerEntry { Type = "torn-line", StartedAt = time.GetUtcNow(), EndedAt = time.GetUtcNow(), Dropped = dropped, Reason = note, Origin = origin }, RolloutJsonContext.Default.LedgerEntry);
            await state.AppendAsync(scope.Key, log, SealedRecord.Seal(record), cancellationToken);
            torn.RemoveAt(0);
            afterWrite?.Invoke($"{(log == StateLog.Journal ? "journal" : "ledger")} torn line {dropped.Line}");
        }

        await state.AppendAsync(scope.Key, log, json, cancellationToken);
        afterWrite?.Invoke(what);
    }

    /// <summary>
    /// Puts, in the place of every line of both logs that does not read back as written and that no later record
    /// explains, a sealed record that keeps the line's text (the journal's torn kind, the ledger's torn-line), so
    /// the logs read whole again and nothing is lost. The caller holds the lock. Returns what was replaced.
    /// </summary>
    public async Task<IReadOnlyList<string>> ReplaceDamagedLinesAsync(CancellationToken cancellationToken)
    {
        var replaced = new List<string>();
        foreach (var log in new[] { StateLog.Journal, StateLog.Ledger })
        {
            var lines = await state.ReadAsync(scope.Key, log, cancellationToken);
            var damaged = log == StateLog.Journal
                ? Unreadable(lines, RolloutJsonContext.Default.JournalRecord, r => r.Dropped)
                : Unreadable(lines, RolloutJsonContext.Default.LedgerEntry, e => e.Dropped);
            if (damaged.Count == 0)
            {
                continue;
            }

            var records = lines.Select(l => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(l)).ToArray();
            foreach (var n in damaged)
            {
                var tear = new TornLine(n + 1, SealedRecord.SumOf(lines[n]));
                var note = $"line {n + 1} did not read back as written; `immutable state repair` put this record in its place and kept the line's text";
                records[n] = SealedRecord.Seal(log == StateLog.Journal
                    ? JsonSerializer.SerializeToUtf8Bytes(new JournalRecord { Type = JournalKind.Torn, At = time.GetUtcNow(), Dropped = tear, Reason = note, DamagedText = lines[n], Origin = origin }, RolloutJsonContext.Default.JournalRecord)
                    : JsonSerializer.SerializeToUtf8Bytes(new LedgerEntry { Type = "torn-line", StartedAt = time.GetUtcNow(), EndedAt = time.GetUtcNow(), Dropped = tear, Reason = note, DamagedText = lines[n], Origin = origin }, RolloutJsonContext.Default.LedgerEntry));
                replaced.Add($"{LogLocation(log)} line {n + 1}: {Quote(lines[n])}");
            }

            await state.RewriteAsync(scope.Key, log, lines, records, cancellationToken);
            afterWrite?.Invoke($"{(log == StateLog.Journal ? "journal" : "ledger")} repaired");
        }

        _unacknowledged.Clear();
        return replaced;
    }

    /// <summary>Where a log lives, as the user would open it: a path for the file store, the object's address otherwise.</summary>
    public string LogLocation(StateLog log)
    {
        var name = log == StateLog.Journal ? "journal.jsonl" : "ledger.jsonl";
        return state is FileStateStore files ? Path.Combine(files.ScopeDirectory(scope.Key), name) : $"{state.Location.TrimEnd('/')}/{scope.Key}/{name}";
    }

    /// <summary>
    /// The records of a log. A torn line (the last one, or an earlier one that a crash cut short, or that a record
    /// after it acknowledges) never took effect and is dropped with a warning; any other line that does not read back
    /// as it was written stops the command, because skipping it could drop the current release.
    /// </summary>
    private List<T> Parse<T>(StateLog log, IReadOnlyList<string> lines, JsonTypeInfo<T> type, Func<T, TornLine?> dropped)
        where T : class
    {
        var records = new T?[lines.Count];
        var conditions = new LineCondition[lines.Count];
        for (var n = 0; n < lines.Count; n++)
        {
            conditions[n] = SealedRecord.Open(lines[n], out var json);
            records[n] = conditions[n] == LineCondition.Whole ? TryDeserialize(json, type) : null;
        }

        // By checksum, not line number: deleting a damaged line by hand must not orphan the notes about later ones.
        var acknowledged = records.OfType<T>().Select(dropped).OfType<TornLine>().Select(t => t.Sum).ToHashSet(StringComparer.Ordinal);
        var unacknowledged = new List<TornLine>();
        for (var n = 0; n < lines.Count; n++)
        {
            if (records[n] is not null)
            {
                continue;
            }

            var tear = new TornLine(n + 1, SealedRecord.SumOf(lines[n]));
            var where = $"{LogLocation(log)} line {n + 1}";
            if (acknowledged.Contains(tear.Sum))
            {
                continue;
            }

            if (n < lines.Count - 1 && conditions[n] != LineCondition.Torn)
            {
                throw new ImmutableBuildException(
                    StateErrors.CorruptLine,
                    $"{where} is corrupt ({(conditions[n] == LineCondition.Corrupt ? "not a record as written, or its checksum does not match" : "not a known record")}): {Quote(lines[n])}. Nothing was changed. Run `immutable state repair --app {scope.App} --environment {scope.Environment}` (it replaces the line with a record that keeps its text), or restore the file from a backup; then run the command again.");
            }

            unacknowledged.Add(tear);
            if (_warned.Add(where))
            {
                releaseLog.Warning(StateErrors.TornTail, $"{where} was torn by an interrupted write and is ignored: {Quote(lines[n])}");
            }
        }

        _unacknowledged[log] = unacknowledged;
        return records.OfType<T>().Where(r => dropped(r) is null).ToList();
    }

    /// <summary>The indexes of the lines that do not read back as written and that no record after them acknowledges.</summary>
    private static List<int> Unreadable<T>(IReadOnlyList<string> lines, JsonTypeInfo<T> type, Func<T, TornLine?> dropped)
        where T : class
    {
        var records = lines.Select(l => SealedRecord.Open(l, out var json) == LineCondition.Whole ? TryDeserialize(json, type) : null).ToList();
        var acknowledged = records.OfType<T>().Select(dropped).OfType<TornLine>().Select(t => t.Sum).ToHashSet(StringComparer.Ordinal);
        return Enumerable.Range(0, lines.Count).Where(n => records[n] is null && !acknowledged.Contains(SealedRecord.SumOf(lines[n]))).ToList();
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
