namespace Immutable.Build.Rollout;

/// <summary>
/// The rollout options as typed values (what Cake settings give, and what <see cref="RolloutSettings"/> parses
/// MSBuild and CLI strings into). A field the strategy does not use is ignored.
/// </summary>
public sealed record RolloutOptions
{
    /// <summary>The strategy (default blue-green).</summary>
    public RolloutKind Kind { get; init; } = RolloutKind.BlueGreen;

    /// <summary>Instances of the new release (default 1).</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>Canary: traffic percentages, ending at 100 (default 10, 50, 100).</summary>
    public IReadOnlyList<int>? CanarySteps { get; init; }

    /// <summary>Canary: the pause after each step but the last.</summary>
    public TimeSpan CanaryPause { get; init; }

    /// <summary>How long each analyse step observes (zero: one evaluation).</summary>
    public TimeSpan AnalysisWindow { get; init; }

    /// <summary>Blue-green: how long the old group stays after the switch.</summary>
    public TimeSpan KeepOldFor { get; init; }

    /// <summary>Rolling: instances per batch.</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Rolling: extra instances at most.</summary>
    public int MaxSurge { get; init; } = 1;

    /// <summary>The strategy's steps; values out of range are IMB6002/IMB6003.</summary>
    public RolloutStrategy ToStrategy() => Kind switch
    {
        RolloutKind.Canary => RolloutStrategy.Canary(Replicas, CanarySteps, CanaryPause, AnalysisWindow),
        RolloutKind.Rolling => RolloutStrategy.Rolling(Replicas, BatchSize, MaxSurge, AnalysisWindow),
        _ => RolloutStrategy.BlueGreen(Replicas, KeepOldFor, AnalysisWindow),
    };
}
