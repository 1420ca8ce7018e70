using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>One executed step, for the result and the report.</summary>
/// <param name="Index">1-based position.</param>
/// <param name="Name">The step's verb.</param>
/// <param name="Description">What it did, e.g. "r3-abc 10%, r2-xyz 90%".</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="Duration">How long it took.</param>
/// <param name="Succeeded">Whether it succeeded.</param>
/// <param name="Detail">Failure reason or extra detail.</param>
public sealed record StepRecord(int Index, string Name, string Description, DateTimeOffset StartedAt, TimeSpan Duration, bool Succeeded, string? Detail);

/// <summary>What a rollout did.</summary>
public sealed record RolloutResult
{
    /// <summary>&lt;scope key&gt;-&lt;seq&gt;.</summary>
    public required string RolloutId { get; init; }

    /// <summary>App and environment.</summary>
    public required DeploymentScope Scope { get; init; }

    /// <summary>The release rolled out.</summary>
    public required ReleaseRef Release { get; init; }

    /// <summary>The release that was current before.</summary>
    public ReleaseRef? PreviousRelease { get; init; }

    /// <summary>deploy, rollback, or repair (status --repair relaunching a current release that nothing served).</summary>
    public required string Trigger { get; init; }

    /// <summary>The strategy kind.</summary>
    public required RolloutKind Strategy { get; init; }

    /// <summary>See <see cref="RolloutOutcomes"/>.</summary>
    public required string Outcome { get; init; }

    /// <summary>Why it did not succeed.</summary>
    public string? Reason { get; init; }

    /// <summary>The new release's groups.</summary>
    public required IReadOnlyList<string> Groups { get; init; }

    /// <summary>Steps run.</summary>
    public required IReadOnlyList<StepRecord> Steps { get; init; }

    /// <summary>Gate verdicts.</summary>
    public required IReadOnlyList<GateResult> Gates { get; init; }

    /// <summary>What an earlier interrupted rollout needed to converge, if anything.</summary>
    public IReadOnlyList<string> Repairs { get; init; } = [];

    /// <summary>When it started.</summary>
    public DateTimeOffset StartedAt { get; init; }

    /// <summary>How long it took.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>The Markdown report.</summary>
    public string Report { get; init; } = "";

    /// <summary>True when the release is now current.</summary>
    public bool Succeeded => Outcome == RolloutOutcomes.Succeeded;

    /// <summary>Throws IMB6005 (rolled back) or IMB6006 (failed) unless the rollout succeeded; adapters use it to fail the build.</summary>
    public void ThrowIfNotSucceeded()
    {
        if (Outcome == RolloutOutcomes.RolledBack)
        {
            throw new ImmutableBuildException(RolloutErrors.RolledBack, $"Rollout {RolloutId} of release {Release.ReleaseId} was rolled back: {Sentence.End(Reason)} {(PreviousRelease is null ? "Nothing serves it." : $"Release {PreviousRelease.ReleaseId} serves again.")} Fix the release and publish again.");
        }

        if (Outcome != RolloutOutcomes.Succeeded)
        {
            throw new ImmutableBuildException(RolloutErrors.Failed, $"Rollout {RolloutId} of release {Release.ReleaseId} failed and could not be rolled back completely: {Sentence.End(Reason)} Run `immutable status --repair` once the target is reachable.");
        }
    }
}

/// <summary>One group as the target observes it.</summary>
/// <param name="Group">The group name.</param>
/// <param name="ReleaseId">The release its instances run (the first one's, when they differ).</param>
/// <param name="Weight">Its traffic share.</param>
/// <param name="Instances">Its instances.</param>
/// <param name="IsCurrent">Whether the ledger says it serves the current release.</param>
public sealed record GroupStatus(string Group, string ReleaseId, int Weight, IReadOnlyList<InstanceInfo> Instances, bool IsCurrent)
{
    /// <summary>Instances reported running.</summary>
    public int Running => Instances.Count(i => InstanceStatus.IsRunning(i.Status));
}

/// <summary>An instance that differs from what the ledger says should run.</summary>
public sealed record DriftItem(string InstanceId, string Group, string Reason);

/// <summary>What should run (ledger) against what runs (target).</summary>
public sealed record RolloutStatus
{
    /// <summary>App and environment.</summary>
    public required DeploymentScope Scope { get; init; }

    /// <summary>The target's name.</summary>
    public required string Target { get; init; }

    /// <summary>The current release per the ledger.</summary>
    public ReleaseRef? Current { get; init; }

    /// <summary>Groups observed.</summary>
    public required IReadOnlyList<GroupStatus> Groups { get; init; }

    /// <summary>Traffic weights observed.</summary>
    public required IReadOnlyDictionary<string, int> Weights { get; init; }

    /// <summary>Instances not running the desired digest, or not created by a rollout, or whose group no rollout owns.</summary>
    public required IReadOnlyList<DriftItem> Drift { get; init; }

    /// <summary>An interrupted rollout the journal shows (only when status was read without repair).</summary>
    public string? Interrupted { get; init; }

    /// <summary>What repair did.</summary>
    public IReadOnlyList<string> Repairs { get; init; } = [];

    /// <summary>The ledger, oldest first.</summary>
    public required IReadOnlyList<LedgerEntry> History { get; init; }

    /// <summary>Where the ledger and journal were read (a file URL for the state directory, s3://, docker://).</summary>
    public string StateLocation { get; init; } = "";

    /// <summary>True when what runs is what the ledger wants.</summary>
    public bool InSync => Drift.Count == 0 && Interrupted is null;
}

/// <summary>What a prune kept and removed.</summary>
public sealed record PruneResult(IReadOnlyList<ReleaseRef> Kept, IReadOnlyList<ReleaseRef> Removed);
