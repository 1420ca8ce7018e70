using System.Text.Json.Serialization;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>One line of a scope's journal.jsonl. One flat shape for every kind so a torn or unknown line is easy to skip.</summary>
internal sealed class JournalRecord
{
    /// <summary>begin, step, rollback or end.</summary>
    public string Type { get; set; } = "";

    public string Rollout { get; set; } = "";

    public int Seq { get; set; }

    public DateTimeOffset At { get; set; }

    public ReleaseRef? Release { get; set; }

    public string? Strategy { get; set; }

    public string? Trigger { get; set; }

    public int? Replicas { get; set; }

    public int? Steps { get; set; }

    public ReleaseRef? PreviousRelease { get; set; }

    public List<string>? PreviousGroups { get; set; }

    public List<string>? NextGroups { get; set; }

    public int? Index { get; set; }

    /// <summary>start, done or failed.</summary>
    public string? Phase { get; set; }

    public string? Step { get; set; }

    public string? Detail { get; set; }

    public Dictionary<string, int>? Weights { get; set; }

    public string? Outcome { get; set; }

    public string? Reason { get; set; }
}

/// <summary>Source-generated JSON for the journal and the ledger: one compact object per line.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(JournalRecord))]
[JsonSerializable(typeof(LedgerEntry))]
[JsonSerializable(typeof(LockHolder))]
internal sealed partial class RolloutJsonContext : JsonSerializerContext;

/// <summary>Who holds a deploy lock, for the lock error.</summary>
internal sealed record LockHolder(int Pid, string Host, DateTimeOffset Since, string Purpose);
