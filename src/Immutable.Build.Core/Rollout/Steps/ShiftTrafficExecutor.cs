namespace Immutable.Build.Rollout;

/// <summary>Routes the step's share of traffic to the new release and the rest to the previous groups still running.</summary>
internal sealed class ShiftTrafficExecutor : StepExecutor<ShiftTrafficStep>
{
    protected override async Task<string> ExecuteAsync(StepContext context, ShiftTrafficStep step, CancellationToken cancellationToken)
    {
        var run = context.Run;
        var observed = await context.Target.ObserveAsync(run.Scope, cancellationToken);
        var weights = Traffic.Weights(run, step.NextPercent, run.Previous, observed);
        var description = Traffic.Describe(weights);
        context.Say(description);
        await context.Target.RouteAsync(run.Scope, weights, cancellationToken);
        run.Weights = weights;
        return description;
    }
}
