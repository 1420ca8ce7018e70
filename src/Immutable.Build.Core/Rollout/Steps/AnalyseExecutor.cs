namespace Immutable.Build.Rollout;

/// <summary>Runs the analysis gates together against the new release's instances while they take traffic.</summary>
internal sealed class AnalyseExecutor : StepExecutor<AnalyseStep>
{
    protected override async Task<string> ExecuteAsync(StepContext context, AnalyseStep step, CancellationToken cancellationToken)
    {
        var run = context.Run;
        var gates = context.Options.AnalysisGates;
        if (gates.Count == 0)
        {
            context.Say("no analysis gates");
            return "no analysis gates";
        }

        context.Say($"{string.Join(", ", gates.Select(g => g.Name))} over {step.Window.TotalSeconds:0.#}s");
        var instances = (await context.Target.ObserveAsync(run.Scope, cancellationToken)).Instances.Where(i => run.Launched.ContainsKey(i.Group)).ToList();
        var results = await Task.WhenAll(gates.Select(g => context.EvaluateAsync(g, run.BaseGroup, instances, step.Window, cancellationToken)));
        var failed = results.FirstOrDefault(r => !r.Passed);
        if (failed is not null)
        {
            throw new StepFailedException($"analysis gate '{failed.Gate}' {(failed.Verdict == GateVerdict.Inconclusive ? "was inconclusive" : "failed")}: {failed.Detail}", $"{run.BaseGroup} at {Traffic.Describe(run.Weights)}");
        }

        return string.Join("; ", results.Select(r => $"{r.Gate}: {r.Detail}"));
    }
}
