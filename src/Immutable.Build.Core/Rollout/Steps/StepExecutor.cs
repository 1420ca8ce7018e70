namespace Immutable.Build.Rollout;

/// <summary>
/// Runs one kind of <see cref="RolloutStep"/>. Returns the description the journal and report keep; throws
/// <see cref="StepFailedException"/> when the step decides the rollout must roll back.
/// </summary>
internal abstract class StepExecutor
{
    /// <summary>The step record type this executor runs.</summary>
    public abstract Type StepType { get; }

    public abstract Task<string> ExecuteAsync(StepContext context, RolloutStep step, CancellationToken cancellationToken);
}

/// <summary>A <see cref="StepExecutor"/> for steps of type <typeparamref name="TStep"/>.</summary>
internal abstract class StepExecutor<TStep> : StepExecutor
    where TStep : RolloutStep
{
    public sealed override Type StepType => typeof(TStep);

    public sealed override Task<string> ExecuteAsync(StepContext context, RolloutStep step, CancellationToken cancellationToken) =>
        ExecuteAsync(context, (TStep)step, cancellationToken);

    protected abstract Task<string> ExecuteAsync(StepContext context, TStep step, CancellationToken cancellationToken);
}

/// <summary>A step decided the release is bad (a gate failed, an instance died); the engine rolls back.</summary>
internal sealed class StepFailedException(string message, string description) : Exception(message)
{
    /// <summary>What the step had got to, for the journal and the report.</summary>
    public string Description { get; } = description;
}
