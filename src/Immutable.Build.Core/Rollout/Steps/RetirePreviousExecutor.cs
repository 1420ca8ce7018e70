namespace Immutable.Build.Rollout;

/// <summary>Rolling: moves traffic off and decommissions previous groups, oldest first, while the new instances cover them.</summary>
internal sealed class RetirePreviousExecutor : StepExecutor<RetirePreviousStep>
{
    protected override async Task<string> ExecuteAsync(StepContext context, RetirePreviousStep step, CancellationToken cancellationToken)
    {
        var run = context.Run;
        var observed = await context.Target.ObserveAsync(run.Scope, cancellationToken);
        var retiring = new List<string>();
        var covered = 0;
        foreach (var group in run.Previous)
        {
            var size = observed.Instances.Count(i => i.Group == group);
            if (covered + size > step.CoveredReplicas)
            {
                break;
            }

            covered += size;
            retiring.Add(group);
        }

        if (retiring.Count == 0)
        {
            context.Say("no previous group is covered yet");
            return "no previous group is covered yet";
        }

        var remaining = run.Previous.Except(retiring).ToList();
        var weights = Traffic.Weights(run, run.Weights.Where(w => run.Launched.ContainsKey(w.Key)).Sum(w => w.Value), remaining, observed);
        var description = $"{string.Join(", ", retiring)}; traffic {Traffic.Describe(weights)}";
        context.Say(description);
        await context.Target.RouteAsync(run.Scope, weights, cancellationToken);
        run.Weights = weights;
        foreach (var group in retiring)
        {
            await context.Target.DecommissionAsync(run.Scope, group, context.Options.Drain, cancellationToken);
            run.Previous.Remove(group);
        }

        return description;
    }
}
