using Immutable.Build.Rollout;

namespace Immutable.Build.Core.Tests.Rollout;

public sealed class StrategyTests
{
    private static string[] Names(RolloutStrategy s) => s.Steps.Select(x => x switch
    {
        ShiftTrafficStep t => $"shift {t.NextPercent}",
        LaunchStep l => $"launch {l.Replicas}{(l.Batch is { } b ? $" b{b}" : "")}",
        DecommissionStep d => $"decommission {d.Group} {d.Delay.TotalSeconds}s",
        RetirePreviousStep r => $"retire {r.CoveredReplicas}",
        PauseStep p => $"pause {p.Duration.TotalSeconds}s",
        _ => x.Name,
    }).ToArray();

    [Fact]
    public void Blue_green_gates_before_any_traffic_then_switches_all_at_once()
    {
        var s = RolloutStrategy.BlueGreen(3, TimeSpan.FromSeconds(30));
        Assert.Equal(RolloutKind.BlueGreen, s.Kind);
        Assert.Equal(["launch 3", "wait healthy", "shift 100", "analyse", "promote", "decommission Previous 30s"], Names(s));
        Assert.Equal(3, s.Replicas);
    }

    [Fact]
    public void Canary_shifts_by_the_weights_with_pauses_and_analysis_after_each()
    {
        var s = RolloutStrategy.Canary(2, [10, 50, 100], TimeSpan.FromSeconds(5));
        Assert.Equal(["launch 2", "wait healthy", "shift 10", "pause 5s", "analyse", "shift 50", "pause 5s", "analyse", "shift 100", "analyse", "promote", "decommission Previous 0s"], Names(s));
        Assert.Equal([10, 50, 100], RolloutStrategy.Canary(1).Steps.OfType<ShiftTrafficStep>().Select(t => t.NextPercent));
    }

    [Fact]
    public void Rolling_launches_batches_capped_by_the_surge_and_retires_as_it_goes()
    {
        var s = RolloutStrategy.Rolling(5, batchSize: 2, maxSurge: 2);
        Assert.Equal(
            ["launch 2 b1", "wait healthy", "shift 40", "analyse", "retire 2",
             "launch 2 b2", "wait healthy", "shift 80", "analyse", "retire 4",
             "launch 1 b3", "wait healthy", "shift 100", "analyse", "promote", "decommission Previous 0s"],
            Names(s));
        Assert.Equal(5, s.Replicas);
        Assert.All(RolloutStrategy.Rolling(4, batchSize: 3, maxSurge: 1).Steps.OfType<LaunchStep>(), l => Assert.Equal(1, l.Replicas));
    }

    [Fact]
    public void Settings_from_properties_build_each_strategy()
    {
        Assert.Equal(RolloutKind.BlueGreen, new RolloutSettings().ToStrategy().Kind);
        Assert.Equal(1, new RolloutSettings().ToStrategy().Replicas);
        var bg = new RolloutSettings { Strategy = "Blue-Green", Replicas = "4", KeepOldFor = "2m" }.ToStrategy();
        Assert.Equal(4, bg.Replicas);
        Assert.Equal(TimeSpan.FromMinutes(2), bg.Steps.OfType<DecommissionStep>().Single().Delay);
        var canary = new RolloutSettings { Strategy = "canary", CanarySteps = "20; 100", CanaryPause = "500ms", AnalysisWindow = "00:00:30" }.ToStrategy();
        Assert.Equal([20, 100], canary.Steps.OfType<ShiftTrafficStep>().Select(t => t.NextPercent));
        Assert.Equal(TimeSpan.FromMilliseconds(500), canary.Steps.OfType<PauseStep>().Single().Duration);
        Assert.All(canary.Steps.OfType<AnalyseStep>(), a => Assert.Equal(TimeSpan.FromSeconds(30), a.Window));
        var rolling = new RolloutSettings { Strategy = "rolling", Replicas = "3", BatchSize = "1", MaxSurge = "1" }.ToStrategy();
        Assert.Equal(3, rolling.Steps.OfType<LaunchStep>().Count());
        Assert.Equal(TimeSpan.FromSeconds(90), RolloutSettings.ParseDuration("X", "90", TimeSpan.Zero));
        Assert.Equal(TimeSpan.FromHours(1.5), RolloutSettings.ParseDuration("X", "1.5h", TimeSpan.Zero));
    }

    [Theory]
    [InlineData("bluegreen2", null, null, "IMB6001")]
    [InlineData("canary", "10;5;100", null, "IMB6002")]
    [InlineData("canary", "10;50", null, "IMB6002")]
    [InlineData("canary", "ten;100", null, "IMB6002")]
    [InlineData("canary", "0;100", null, "IMB6002")]
    [InlineData("bluegreen", null, "0", "IMB6003")]
    [InlineData("bluegreen", null, "-1", "IMB6003")]
    [InlineData("rolling", null, "two", "IMB6003")]
    public void Bad_property_values_fail_with_their_code(string strategy, string? steps, string? replicas, string code)
    {
        var e = Assert.Throws<ImmutableBuildException>(() => new RolloutSettings { Strategy = strategy, CanarySteps = steps, Replicas = replicas }.ToStrategy());
        Assert.Equal(code, e.Code);
    }

    [Fact]
    public void Bad_durations_name_the_property()
    {
        var e = Assert.Throws<ImmutableBuildException>(() => new RolloutSettings { KeepOldFor = "soon" }.ToStrategy());
        Assert.Equal("IMB6003", e.Code);
        Assert.Contains("ImmutableKeepOldFor", e.Message, StringComparison.Ordinal);
        Assert.Equal("IMB6003", Assert.Throws<ImmutableBuildException>(() => new RolloutSettings { Strategy = "rolling", MaxSurge = "0" }.ToStrategy()).Code);
    }
}
