namespace Immutable.Build.Rollout;

/// <summary>Waits on the engine's clock.</summary>
internal sealed class PauseExecutor : StepExecutor<PauseStep>
{
    protected override async Task<string> ExecuteAsync(StepContext context, PauseStep step, CancellationToken cancellationToken)
    {
        context.Say($"{step.Duration.TotalSeconds:0.#}s");
        await Task.Delay(step.Duration, context.Time, cancellationToken);
        return $"{step.Duration.TotalSeconds:0.#}s";
    }
}
