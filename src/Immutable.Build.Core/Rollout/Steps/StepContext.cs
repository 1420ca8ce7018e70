using System.Globalization;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>What a step executor works with: the run so far, the target, the engine's options, and its progress line.</summary>
internal sealed class StepContext(RolloutRun run, IDeploymentTarget target, RolloutEngineOptions options, RolloutStep step, int index)
{
    private readonly string _prefix = string.Create(CultureInfo.InvariantCulture, $"step {index + 1}/{run.Strategy.Steps.Count} {step.Name}");

    public RolloutRun Run { get; } = run;

    public IDeploymentTarget Target { get; } = target;

    public RolloutEngineOptions Options { get; } = options;

    public TimeProvider Time => Options.Time;

    /// <summary>Logs the step's progress line and remembers it, so a target failure mid-step still has a description.</summary>
    public void Say(string description)
    {
        Run.LastDescription = description;
        Options.Log.Info($"{_prefix}: {description}");
    }

    /// <summary>Evaluates one gate against a group and records its result in the run.</summary>
    public async Task<GateResult> EvaluateAsync(IRolloutGate gate, string group, IReadOnlyList<InstanceInfo> instances, TimeSpan window, CancellationToken cancellationToken)
    {
        var start = Time.GetUtcNow();
        var result = await gate.EvaluateAsync(new GateContext(Run.Scope, Run.Release, group, instances, window, Time), cancellationToken);
        result = result with { Group = group, StartedAt = start, Duration = Time.GetUtcNow() - start };
        lock (Run.Gates)
        {
            Run.Gates.Add(result);
        }

        Options.Log.Detail($"  gate {result.Gate} on {group}: {result.Verdict.ToString().ToLowerInvariant()}: {result.Detail}");
        if (result.Warning is { } warning)
        {
            Options.Log.Warning(warning.Code, $"gate {result.Gate} on {group}: {warning.Message}");
        }

        return result;
    }
}
