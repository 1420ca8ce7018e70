using System.Text.Json;
using System.Text.Json.Serialization;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>What a journal line records. Written as its lower-case name (begin, step, rollback, end), as journals on disk already are.</summary>
[JsonConverter(typeof(JournalNameConverter<JournalKind>))]
internal enum JournalKind
{
    /// <summary>A rollout started: the release, the strategy, the groups before and after.</summary>
    Begin,

    /// <summary>A step started, finished or failed.</summary>
    Step,

    /// <summary>A failed rollout's rollback started or finished.</summary>
    Rollback,

    /// <summary>The rollout is over (also written by convergence after an interruption).</summary>
    End,

    /// <summary>An earlier line was found torn and dropped (<see cref="JournalRecord.Dropped"/> names it).</summary>
    Torn,
}

/// <summary>Where a step or rollback line stands. Written as start, done or failed.</summary>
[JsonConverter(typeof(JournalNameConverter<JournalPhase>))]
internal enum JournalPhase
{
    /// <summary>Begun.</summary>
    Start,

    /// <summary>Finished successfully.</summary>
    Done,

    /// <summary>Finished with a failure.</summary>
    Failed,
}

/// <summary>
/// Reads and writes the journal's enums by their camel-case names, and never as numbers: a number on disk would
/// tie the journal to the order of the members.
/// </summary>
internal sealed class JournalNameConverter<T>() : JsonStringEnumConverter<T>(JsonNamingPolicy.CamelCase, allowIntegerValues: false)
    where T : struct, Enum;

/// <summary>The names the journal writes for its enums, for messages that quote a journal line.</summary>
internal static class JournalNames
{
    public static string Of(JournalKind kind) => JsonNamingPolicy.CamelCase.ConvertName(kind.ToString());

    public static string? Of(JournalPhase? phase) => phase is { } p ? JsonNamingPolicy.CamelCase.ConvertName(p.ToString()) : null;
}

/// <summary>One line of a scope's journal.jsonl. One flat shape for every kind so a torn or unknown line is easy to skip.</summary>
internal sealed class JournalRecord
{
    public JournalKind Type { get; set; }

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

    public JournalPhase? Phase { get; set; }

    public string? Step { get; set; }

    public string? Detail { get; set; }

    public Dictionary<string, int>? Weights { get; set; }

    public string? Outcome { get; set; }

    public string? Reason { get; set; }

    /// <summary>For a torn line: the line dropped.</summary>
    public TornLine? Dropped { get; set; }

    /// <summary>For a line `immutable state repair` replaced: its text as it was found, so the repair loses nothing.</summary>
    public string? DamagedText { get; set; }

    /// <summary>Who wrote the line and from where (absent in lines written before records carried it).</summary>
    public State.RecordOrigin? Origin { get; set; }
}
