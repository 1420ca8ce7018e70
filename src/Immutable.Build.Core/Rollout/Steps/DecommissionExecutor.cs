namespace Immutable.Build.Rollout;

/// <summary>Waits the step's delay (blue-green's keep-old period), then drains and removes the groups of one side.</summary>
internal sealed class DecommissionExecutor : StepExecutor<DecommissionStep>
{
    protected override async Task<string> ExecuteAsync(StepContext context, DecommissionStep step, CancellationToken cancellationToken)
    {
        var run = context.Run;
        var groups = step.Group == GroupRole.Previous ? run.Previous.ToList() : run.NextGroups.ToList();
        var description = groups.Count == 0 ? "nothing to decommission" : $"{string.Join(", ", groups)}{(step.Delay > TimeSpan.Zero ? $" after {step.Delay.TotalSeconds:0.#}s" : "")}";
        context.Say(description);
        if (groups.Count > 0 && step.Delay > TimeSpan.Zero)
        {
            await Task.Delay(step.Delay, context.Time, cancellationToken);
        }

        foreach (var group in groups)
        {
            await context.Target.DecommissionAsync(run.Scope, group, context.Options.Drain, cancellationToken);
            run.Previous.Remove(group);
        }

        return description;
    }
}
