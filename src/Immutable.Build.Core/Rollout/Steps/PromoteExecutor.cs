namespace Immutable.Build.Rollout;

/// <summary>
/// Does nothing on the target: its journaled "done" line is what makes an interrupted rollout finish forward
/// instead of rolling back.
/// </summary>
internal sealed class PromoteExecutor : StepExecutor<PromoteStep>
{
    protected override Task<string> ExecuteAsync(StepContext context, PromoteStep step, CancellationToken cancellationToken)
    {
        var description = $"{context.Run.Release.ReleaseId} is the current release ({string.Join(", ", context.Run.NextGroups)})";
        context.Say(description);
        return Task.FromResult(description);
    }
}
