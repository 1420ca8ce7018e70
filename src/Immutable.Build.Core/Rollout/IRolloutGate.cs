using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>
/// A check that decides whether a rollout may go on. Health gates run in the wait-healthy step (before the group
/// gets traffic), analysis gates in the analyse step. A gate handles its own retries and timeout and returns a
/// verdict; it throws only for cancellation.
/// </summary>
public interface IRolloutGate
{
    /// <summary>A short name for the report, e.g. "http /healthz".</summary>
    string Name { get; }

    /// <summary>Evaluates the gate against the new release's instances.</summary>
    Task<GateResult> EvaluateAsync(GateContext context, CancellationToken cancellationToken);
}

/// <summary>What a gate evaluates.</summary>
/// <param name="Scope">App and environment.</param>
/// <param name="Release">The release being rolled out.</param>
/// <param name="Group">The new release's group (for rolling, the first batch's name without the batch suffix).</param>
/// <param name="Instances">The instances to probe.</param>
/// <param name="Window">How long an analysis gate observes; zero for one evaluation.</param>
/// <param name="Time">The clock for waits.</param>
public sealed record GateContext(DeploymentScope Scope, ReleaseRef Release, string Group, IReadOnlyList<InstanceInfo> Instances, TimeSpan Window, TimeProvider Time);

/// <summary>How a gate ended.</summary>
public enum GateVerdict
{
    /// <summary>The rollout may go on.</summary>
    Passed,

    /// <summary>The release is bad: roll back.</summary>
    Failed,

    /// <summary>No data to decide, and the gate treats that as a failure.</summary>
    Inconclusive,
}

/// <summary>A gate's verdict with what it saw.</summary>
public sealed record GateResult(string Gate, GateVerdict Verdict, string Detail)
{
    /// <summary>Whether the rollout may go on.</summary>
    public bool Passed => Verdict == GateVerdict.Passed;

    /// <summary>The group it was evaluated against, filled in by the engine.</summary>
    public string? Group { get; init; }

    /// <summary>When the evaluation started, filled in by the engine.</summary>
    public DateTimeOffset StartedAt { get; init; }

    /// <summary>How long the evaluation took, filled in by the engine.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>Something the user should see although the gate passed (e.g. a check it skipped); the engine logs it as a warning.</summary>
    public GateWarning? Warning { get; init; }
}

/// <summary>A coded warning of a gate.</summary>
public sealed record GateWarning(string Code, string Message);
