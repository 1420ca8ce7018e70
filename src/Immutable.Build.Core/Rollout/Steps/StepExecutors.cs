namespace Immutable.Build.Rollout;

/// <summary>The executor of every step kind; the engine dispatches each step of a strategy here.</summary>
internal static class StepExecutors
{
    private static readonly Dictionary<Type, StepExecutor> ByStep = new StepExecutor[]
    {
        new LaunchExecutor(),
        new WaitHealthyExecutor(),
        new ShiftTrafficExecutor(),
        new AnalyseExecutor(),
        new PauseExecutor(),
        new PromoteExecutor(),
        new DecommissionExecutor(),
        new RetirePreviousExecutor(),
    }.ToDictionary(e => e.StepType);

    public static Task<string> ExecuteAsync(StepContext context, RolloutStep step, CancellationToken cancellationToken) =>
        ByStep.TryGetValue(step.GetType(), out var executor)
            ? executor.ExecuteAsync(context, step, cancellationToken)
            : throw new NotSupportedException($"step {step.GetType().Name} is not known to this engine");
}
