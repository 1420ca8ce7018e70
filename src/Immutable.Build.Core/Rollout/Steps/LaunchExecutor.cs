using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>Launches the new release's group (or rolling batch).</summary>
internal sealed class LaunchExecutor : StepExecutor<LaunchStep>
{
    protected override async Task<string> ExecuteAsync(StepContext context, LaunchStep step, CancellationToken cancellationToken)
    {
        var run = context.Run;
        var group = run.GroupName(step.Batch);
        context.Say($"{group} x{step.Replicas} ({run.Release.ReleaseId})");
        run.Launched[group] = step.Replicas;
        var instances = await context.Target.LaunchAsync(new LaunchRequest(run.Scope, run.Release, group, step.Replicas, context.Options.InstanceEnvironment), cancellationToken);
        return $"{group} x{step.Replicas}: {string.Join(", ", instances.Take(5).Select(i => i.Id))}{(instances.Count > 5 ? ", ..." : "")}";
    }
}
