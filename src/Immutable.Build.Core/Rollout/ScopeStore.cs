using System.Text;
using System.Text.Json;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>
/// The files of one scope under <c>&lt;stateDir&gt;/rollouts/&lt;scope key&gt;/</c>: <c>journal.jsonl</c>, <c>ledger.jsonl</c>,
/// <c>lock</c>, <c>lock.holder</c> and <c>last-report.md</c>. Every line is flushed to disk before the engine acts on
/// it, so a line on disk is a promise the next engine can rely on after a crash.
/// </summary>
internal sealed class ScopeStore
{
    private readonly Action<string>? _afterWrite;

    public ScopeStore(string stateDirectory, DeploymentScope scope, Action<string>? afterWrite)
    {
        Directory = Path.Combine(Path.GetFullPath(stateDirectory), "rollouts", scope.Key);
        _afterWrite = afterWrite;
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw RolloutErrors.State(Directory, e);
        }
    }

    public string Directory { get; }

    public string JournalPath => Path.Combine(Directory, "journal.jsonl");

    public string LedgerPath => Path.Combine(Directory, "ledger.jsonl");

    public string ReportPath => Path.Combine(Directory, "last-report.md");

    public void AppendJournal(JournalRecord record) =>
        AppendLine(JournalPath, JsonSerializer.SerializeToUtf8Bytes(record, RolloutJsonContext.Default.JournalRecord), $"journal {JournalNames.Of(record.Type)} {record.Step ?? record.Outcome ?? ""} {JournalNames.Of(record.Phase) ?? ""}".TrimEnd());

    public void AppendLedger(LedgerEntry entry) =>
        AppendLine(LedgerPath, JsonSerializer.SerializeToUtf8Bytes(entry, RolloutJsonContext.Default.LedgerEntry), $"ledger {entry.Type} {entry.Outcome}".TrimEnd());

    public List<JournalRecord> ReadJournal() => ReadLines(JournalPath, RolloutJsonContext.Default.JournalRecord);

    public List<LedgerEntry> ReadLedger() => ReadLines(LedgerPath, RolloutJsonContext.Default.LedgerEntry);

    private void AppendLine(string path, byte[] json, string what)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None);
            // A process killed mid-write leaves a line without its newline; start on a fresh line so that only the
            // torn line is lost, never the one written now.
            if (stream.Length > 0)
            {
                stream.Seek(-1, SeekOrigin.End);
                var last = stream.ReadByte();
                stream.Seek(0, SeekOrigin.End);
                if (last != '\n')
                {
                    stream.WriteByte((byte)'\n');
                }
            }

            var line = new byte[json.Length + 1];
            json.CopyTo(line, 0);
            line[^1] = (byte)'\n';
            stream.Write(line);
            stream.Flush(flushToDisk: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw RolloutErrors.State(path, e);
        }

        _afterWrite?.Invoke(what);
    }

    private static List<T> ReadLines<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        var list = new List<T>();
        if (!File.Exists(path))
        {
            return list;
        }

        try
        {
            foreach (var line in File.ReadLines(path, Encoding.UTF8))
            {
                if (string.IsNullOrWhiteSpace(line))
                {
                    continue;
                }

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
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw RolloutErrors.State(path, e);
        }

        return list;
    }
}
