using Immutable.Build.Releases;

namespace Immutable.Build.Rollout;

/// <summary>How a <see cref="RolloutEngine"/> runs. Immutable; derive variants with <c>with</c>.</summary>
public sealed record RolloutEngineOptions
{
    /// <summary>Root of the rollout state (<c>rollouts/&lt;scope key&gt;/</c> below it): journal, ledger, lock.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>
    /// Where the lock, journal and ledger live; null: a <see cref="State.FileStateStore"/> on <see cref="StateDirectory"/>
    /// (which also keeps the last report either way). The engine does not dispose it.
    /// </summary>
    public State.IStateStore? StateStore { get; init; }

    /// <summary>Gates of the wait-healthy step, run once every instance of the group runs (e.g. <see cref="HttpGate"/>, <see cref="ReleaseIdentityGate"/>).</summary>
    public IReadOnlyList<IRolloutGate> HealthGates { get; init; } = [];

    /// <summary>Gates of the analyse step (e.g. <see cref="PrometheusGate"/>).</summary>
    public IReadOnlyList<IRolloutGate> AnalysisGates { get; init; } = [];

    /// <summary>How long the instances of a new group may take to be reported running by the target.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>How often the target is observed while waiting for instances to run.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long to wait for the deploy lock before failing with IMB6004.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a decommissioned group keeps serving requests already in flight.</summary>
    public TimeSpan Drain { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Environment variables every launched instance gets, besides what the target adds (the release identity).</summary>
    public IReadOnlyDictionary<string, string> InstanceEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>The clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Progress: <see cref="ReleaseLog.Info"/> gets one line per step, <see cref="ReleaseLog.Detail"/> gate details and repairs, warnings are coded.</summary>
    public ReleaseLog Log { get; init; } = ReleaseLog.None;

    /// <summary>Reads environment variables (GITHUB_STEP_SUMMARY); injectable so tests do not touch the process environment.</summary>
    public Func<string, string?> GetEnvironmentVariable { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>
    /// Called after each durable write (journal or ledger line) with a description of it. Tests throw from here
    /// to stop a rollout between any two lines, as a SIGKILL would.
    /// </summary>
    internal Action<string>? AfterDurableWrite { get; init; }
}
