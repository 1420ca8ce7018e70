namespace Immutable.Build.State;

/// <summary>The codes of the state stores: the deploy lock and the shared backends (IMB6004, IMB62xx).</summary>
public static class StateErrors
{
    /// <summary>Deploy lock not acquired in time.</summary>
    [ErrorCode(
        "Another rollout of the same app and environment holds the deploy lock and did not finish within the lock timeout; the message names its holder (user, machine, process, command, CI run).",
        "Wait for it to finish. A file lock of a process that died is released by the operating system; a shared lock whose holder died lapses at its expiry, or clear it with `immutable lock release --force`.")]
    public const string LockTimeout = "IMB6004";

    /// <summary>State directory unusable.</summary>
    [ErrorCode(
        "The rollout state directory (journal, ledger, lock) cannot be created, read or written.",
        "Check ImmutableStateDir / IMMUTABLE_STATE_DIR and its permissions.")]
    public const string StateDirectoryUnusable = "IMB6008";

    /// <summary>A stale shared lock was taken over.</summary>
    [ErrorCode(
        "The deploy lock was held by a process that stopped renewing it and its expiry passed (its runner died); this rollout took it over. The warning names the old holder, and the ledger records it.",
        "Nothing to do; the rollout converges what the old holder left. Check why that runner died.",
        Warning = true)]
    public const string StaleLockTakenOver = "IMB6201";

    /// <summary>The shared state store could not be read or written.</summary>
    [ErrorCode(
        "The shared state store (ImmutableStateUrl) answered with an error or could not be reached: the bucket or Docker host is missing, the credentials are refused, or the endpoint is wrong.",
        "Check ImmutableStateUrl / --state-url / IMMUTABLE_STATE_URL, the credentials and the endpoint (ImmutableAwsS3ServiceUrl, AWS_ENDPOINT_URL_S3, ImmutableDockerHosts).")]
    public const string StoreUnavailable = "IMB6202";

    /// <summary>The state URL is not one a store answers to.</summary>
    [ErrorCode(
        "ImmutableStateUrl is not a state URL this tool knows (file, s3 or docker), or is malformed.",
        "Use s3://bucket/prefix, docker:// (the first host of ImmutableDockerHosts) or leave it empty for the state directory.")]
    public const string InvalidStateUrl = "IMB6203";

    /// <summary>Appends kept losing the race.</summary>
    [ErrorCode(
        "An append to the shared journal or ledger lost the compare-and-swap race to other writers too many times in a row.",
        "Run again; if it persists, something writes to the state prefix in a loop: find it with the records' origins.")]
    public const string AppendContention = "IMB6204";

    /// <summary>This holder's shared lock was taken from it.</summary>
    [ErrorCode(
        "While this rollout held the shared deploy lock, someone cleared it (`lock release --force`) or took it over; the rollout goes on but may now overlap another.",
        "Do not force-release a lock whose holder still runs; check `immutable history` for an overlapping rollout.",
        Warning = true)]
    public const string LockLost = "IMB6205";

    /// <summary>A file lock held by a living process cannot be cleared.</summary>
    [ErrorCode(
        "`immutable lock release --force` on the state directory: the lock is an operating-system lock held by a process that still runs.",
        "Stop that process (its pid is in the message); the lock is released as it exits.")]
    public const string LockHeldByLiveProcess = "IMB6206";

    /// <summary>The destination of a migration already has state.</summary>
    [ErrorCode(
        "`immutable state migrate --to <url>`: the destination already has a journal or ledger for the scope, so copying would merge two histories.",
        "Migrate into an empty prefix, or remove the destination's scope first.")]
    public const string MigrateTargetNotEmpty = "IMB6207";

    /// <summary>A forced release was asked without --force.</summary>
    [ErrorCode(
        "`immutable lock release` was run without --force; clearing a lock whose holder still runs lets two rollouts overlap.",
        "Check `immutable lock status` (holder, CI run, lease), then run `immutable lock release --force`.")]
    public const string ForceRequired = "IMB6208";

    /// <summary>Warning: the last line of a journal or ledger was torn (a crash or power loss mid-append) and is dropped.</summary>
    [ErrorCode(
        "The last line of a scope's journal.jsonl or ledger.jsonl is incomplete or fails its checksum: a crash or power loss cut the append short, so that record never took effect and is dropped.",
        "Nothing to do: the journal, the ledger and what the target runs decide what is current, and a ledger entry the journal shows finished is written again. Check the machine's disk if it recurs without crashes.",
        Warning = true)]
    public const string TornTail = "IMB6209";

    /// <summary>A line before the last one of a journal or ledger is corrupt.</summary>
    [ErrorCode(
        "A line of a scope's journal.jsonl or ledger.jsonl that other lines follow does not parse or fails its checksum: the file was damaged or edited, so which release is current cannot be trusted; the command stopped before changing anything.",
        "Run `immutable state repair` for the app and environment: it replaces each damaged line with a record that keeps its text, writes back the ledger entries the journal proves, and audits the repair in the ledger. Or restore the file from a backup. Then run the command again.")]
    public const string CorruptLine = "IMB6210";

    /// <summary>A log changed while `state repair` rewrote it.</summary>
    [ErrorCode(
        "`immutable state repair` read a journal or ledger, and before it wrote the repaired log back someone else changed it (a writer that ignores the deploy lock); nothing was replaced.",
        "Run `immutable state repair` again; if it recurs, find what writes to the state without the lock from the records' origins.")]
    public const string RepairRaced = "IMB6211";

    internal static ImmutableBuildException Raced(string location) =>
        new(RepairRaced, $"{location} changed while it was being repaired (something wrote to it without the deploy lock); nothing was replaced. Run `immutable state repair` again.");

    internal static ImmutableBuildException Unavailable(string location, string what, Exception inner) =>
        new(StoreUnavailable, $"The state store {location} cannot be used ({what}): {Sentence.Open(inner.Message)}. Check ImmutableStateUrl, the credentials and the endpoint.", inner);
}
