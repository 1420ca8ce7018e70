namespace Immutable.Build.Rollout;

/// <summary>The family of a strategy, for messages, the ledger and the report.</summary>
public enum RolloutKind
{
    /// <summary>Launch the whole new group, gate it, switch all traffic at once.</summary>
    BlueGreen,

    /// <summary>Launch the new group, then move traffic to it in weighted steps with analysis after each.</summary>
    Canary,

    /// <summary>Launch the new release in batches, each its own group, retiring previous groups as the new ones cover them.</summary>
    Rolling,
}

/// <summary>
/// Which side of a rollout a step acts on. Group names are only known when a rollout starts (they carry the
/// rollout's sequence number and the release id), so strategies name roles and the engine resolves them.
/// </summary>
public enum GroupRole
{
    /// <summary>The group(s) of the release being rolled out.</summary>
    Next,

    /// <summary>The group(s) of the release that was current when the rollout started.</summary>
    Previous,
}

/// <summary>
/// A strategy is data: the list of steps the engine runs, so that the journal, the report and the progress
/// lines describe exactly what happens, and a new strategy needs no engine change.
/// </summary>
/// <remarks>
/// Group naming: the new release's group is <c>r&lt;seq&gt;-&lt;release id&gt;</c> (the rollout's sequence number
/// in this app and environment, so redeploying a release never collides with a group of an earlier rollout of
/// it); rolling batches append <c>-b&lt;n&gt;</c>. Names are lowercase, file- and label-safe, at most 48 characters.
/// </remarks>
public sealed record RolloutStrategy(RolloutKind Kind, IReadOnlyList<RolloutStep> Steps)
{
    /// <summary>The default canary weights.</summary>
    public static IReadOnlyList<int> DefaultCanaryWeights { get; } = [10, 50, 100];

    /// <summary>The number of instances the new release ends with.</summary>
    public int Replicas => Steps.OfType<LaunchStep>().Sum(s => s.Replicas);

    /// <summary>Launch all, wait healthy (health gates, before any traffic), switch 100%, analyse, promote, keep the old group for <paramref name="keepOldFor"/>, decommission it.</summary>
    public static RolloutStrategy BlueGreen(int replicas, TimeSpan keepOldFor = default, TimeSpan analysisWindow = default)
    {
        Positive(replicas, "ImmutableReplicas");
        NotNegative(keepOldFor, "ImmutableKeepOldFor");
        NotNegative(analysisWindow, "ImmutableAnalysisWindow");
        return new(RolloutKind.BlueGreen,
        [
            new LaunchStep(GroupRole.Next, replicas),
            new WaitHealthyStep(GroupRole.Next),
            new ShiftTrafficStep(100),
            // Analysis needs traffic to measure; the old group still runs, so a failure here still routes straight back.
            new AnalyseStep(analysisWindow),
            new PromoteStep(),
            new DecommissionStep(GroupRole.Previous, keepOldFor),
        ]);
    }

    /// <summary>Launch all, wait healthy, then for each weight: shift, pause, analyse; promote at 100% and decommission the old group.</summary>
    public static RolloutStrategy Canary(int replicas, IReadOnlyList<int>? weights = null, TimeSpan pauseBetween = default, TimeSpan analysisWindow = default)
    {
        Positive(replicas, "ImmutableReplicas");
        NotNegative(pauseBetween, "ImmutableCanaryPause");
        NotNegative(analysisWindow, "ImmutableAnalysisWindow");
        weights ??= DefaultCanaryWeights;
        ValidateWeights(weights);
        var steps = new List<RolloutStep> { new LaunchStep(GroupRole.Next, replicas), new WaitHealthyStep(GroupRole.Next) };
        for (var i = 0; i < weights.Count; i++)
        {
            steps.Add(new ShiftTrafficStep(weights[i]));
            if (pauseBetween > TimeSpan.Zero && i < weights.Count - 1)
            {
                steps.Add(new PauseStep(pauseBetween));
            }

            steps.Add(new AnalyseStep(analysisWindow));
        }

        steps.Add(new PromoteStep());
        steps.Add(new DecommissionStep(GroupRole.Previous, TimeSpan.Zero));
        return new(RolloutKind.Canary, steps);
    }

    /// <summary>
    /// Batches of at most min(<paramref name="batchSize"/>, <paramref name="maxSurge"/>) new instances, each its own group:
    /// launch, wait healthy, shift traffic in proportion to the instances, analyse, retire previous groups now covered.
    /// </summary>
    /// <remarks>
    /// The port decommissions whole groups, so the surge stays within <paramref name="maxSurge"/> only when the previous
    /// release was itself rolled out in batches of that size; a previous single group is retired once the new
    /// instances cover it, which at worst means it runs until the last batch is healthy.
    /// </remarks>
    public static RolloutStrategy Rolling(int replicas, int batchSize = 1, int maxSurge = 1, TimeSpan analysisWindow = default)
    {
        Positive(replicas, "ImmutableReplicas");
        Positive(batchSize, "ImmutableBatchSize");
        Positive(maxSurge, "ImmutableMaxSurge");
        NotNegative(analysisWindow, "ImmutableAnalysisWindow");
        var batch = Math.Min(batchSize, maxSurge);
        var steps = new List<RolloutStep>();
        var launched = 0;
        for (var b = 1; launched < replicas; b++)
        {
            var n = Math.Min(batch, replicas - launched);
            launched += n;
            steps.Add(new LaunchStep(GroupRole.Next, n, b));
            steps.Add(new WaitHealthyStep(GroupRole.Next, b));
            steps.Add(new ShiftTrafficStep((int)Math.Round(100.0 * launched / replicas, MidpointRounding.AwayFromZero)));
            steps.Add(new AnalyseStep(analysisWindow));
            if (launched < replicas)
            {
                steps.Add(new RetirePreviousStep(launched));
            }
        }

        steps.Add(new PromoteStep());
        steps.Add(new DecommissionStep(GroupRole.Previous, TimeSpan.Zero));
        return new(RolloutKind.Rolling, steps);
    }

    internal static void ValidateWeights(IReadOnlyList<int> weights)
    {
        if (weights.Count == 0 || weights[^1] != 100 || weights.Any(w => w is < 1 or > 100) || weights.Zip(weights.Skip(1)).Any(p => p.Second <= p.First))
        {
            throw new ImmutableBuildException(RolloutErrors.InvalidCanarySteps, $"Canary steps '{string.Join(';', weights)}' are not valid: give increasing percentages between 1 and 100 that end at 100, e.g. 10;50;100.");
        }
    }

    private static void Positive(int value, string property)
    {
        if (value < 1)
        {
            throw RolloutErrors.Value(property, value.ToString(System.Globalization.CultureInfo.InvariantCulture), "a whole number of at least 1");
        }
    }

    private static void NotNegative(TimeSpan value, string property)
    {
        if (value < TimeSpan.Zero)
        {
            throw RolloutErrors.Value(property, value.ToString("c", System.Globalization.CultureInfo.InvariantCulture), "a duration of zero or more");
        }
    }
}

/// <summary>One step of a strategy. <see cref="Name"/> is the verb the journal, progress lines and report use.</summary>
public abstract record RolloutStep
{
    /// <summary>A short verb such as "launch" or "shift traffic".</summary>
    public abstract string Name { get; }
}

/// <summary>Launches <paramref name="Replicas"/> instances of the new release as a group (batch <paramref name="Batch"/> for rolling).</summary>
public sealed record LaunchStep(GroupRole Group, int Replicas, int? Batch = null) : RolloutStep
{
    /// <inheritdoc />
    public override string Name => "launch";
}

/// <summary>Waits until every instance of the group runs, then runs the health gates against it.</summary>
public sealed record WaitHealthyStep(GroupRole Group, int? Batch = null) : RolloutStep
{
    /// <inheritdoc />
    public override string Name => "wait healthy";
}

/// <summary>
/// Routes <paramref name="NextPercent"/>% of traffic to the new release's groups and the rest to the previous ones
/// (each side split in proportion to its instances). Expressed as one number so that weights always total 100;
/// with no previous group alive, the new release takes everything.
/// </summary>
public sealed record ShiftTrafficStep(int NextPercent) : RolloutStep
{
    /// <inheritdoc />
    public override string Name => "shift traffic";
}

/// <summary>Runs the analysis gates (e.g. Prometheus) against the new release for <paramref name="Window"/> (zero: one evaluation).</summary>
public sealed record AnalyseStep(TimeSpan Window) : RolloutStep
{
    /// <inheritdoc />
    public override string Name => "analyse";
}

/// <summary>Waits.</summary>
public sealed record PauseStep(TimeSpan Duration) : RolloutStep
{
    /// <inheritdoc />
    public override string Name => "pause";
}

/// <summary>
/// The point of no return: once journaled, an interrupted rollout is finished forward (old groups decommissioned)
/// instead of rolled back, because the new release already serves all traffic.
/// </summary>
public sealed record PromoteStep : RolloutStep
{
    /// <inheritdoc />
    public override string Name => "promote";
}

/// <summary>Waits <paramref name="Delay"/> (blue-green's keep-old period), then drains and removes the group(s).</summary>
public sealed record DecommissionStep(GroupRole Group, TimeSpan Delay) : RolloutStep
{
    /// <inheritdoc />
    public override string Name => "decommission";
}

/// <summary>Rolling: decommissions previous groups, oldest first, while their instances are covered by <paramref name="CoveredReplicas"/> new ones.</summary>
public sealed record RetirePreviousStep(int CoveredReplicas) : RolloutStep
{
    /// <inheritdoc />
    public override string Name => "retire previous";
}
