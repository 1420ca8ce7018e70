using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>Waits until every instance of the group runs, then runs the health gates against it, before it gets any traffic.</summary>
internal sealed class WaitHealthyExecutor : StepExecutor<WaitHealthyStep>
{
    protected override async Task<string> ExecuteAsync(StepContext context, WaitHealthyStep step, CancellationToken cancellationToken)
    {
        var group = context.Run.GroupName(step.Batch);
        context.Say(group);
        var instances = await WaitRunningAsync(context, group, cancellationToken);
        var gates = context.Options.HealthGates;
        foreach (var gate in gates)
        {
            var result = await context.EvaluateAsync(gate, group, instances, TimeSpan.Zero, cancellationToken);
            if (!result.Passed)
            {
                throw new StepFailedException($"health gate '{gate.Name}' failed on {group}: {result.Detail}", group);
            }
        }

        return $"{group}: {instances.Count} running{(gates.Count == 0 ? "" : $", {gates.Count} gate(s) passed")}";
    }

    private static async Task<IReadOnlyList<InstanceInfo>> WaitRunningAsync(StepContext context, string group, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var expected = context.Run.Launched.GetValueOrDefault(group);
        List<InstanceInfo> instances = [];
        var running = await Wait.UntilAsync(
            async ct =>
            {
                var observed = await context.Target.ObserveAsync(context.Run.Scope, ct);
                if (observed.Unreachable.Count > 0)
                {
                    throw new StepFailedException($"{group}: {string.Join("; ", observed.Unreachable)}", group);
                }

                instances = observed.Instances.Where(i => i.Group == group).ToList();
                if (instances.FirstOrDefault(i => InstanceStatus.IsDead(i.Status)) is { } dead)
                {
                    throw new StepFailedException($"instance {dead.Id} of {group} is {dead.Status}{(dead.Detail is null ? "" : $": {dead.Detail}")}", group);
                }

                return instances.Count >= expected && instances.All(i => InstanceStatus.IsRunning(i.Status));
            },
            options.StartTimeout,
            options.PollInterval,
            context.Time,
            cancellationToken);
        if (!running)
        {
            var statuses = string.Join(", ", instances.GroupBy(i => i.Status).Select(g => $"{g.Count()} {g.Key}"));
            throw new StepFailedException($"{group}: {instances.Count(i => InstanceStatus.IsRunning(i.Status))}/{expected} instance(s) running after {options.StartTimeout.TotalSeconds:0.#}s ({(statuses.Length == 0 ? "none observed" : statuses)})", group);
        }

        return instances;
    }
}
