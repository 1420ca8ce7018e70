using Immutable.Build.Rollout;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>An app that throws at start: the failed rollout names the exit code, the instance log and the exception.</summary>
[Collection(LocalTargetCollection.Name)]
public sealed class LocalCrashAtStartTests(SampleReleaseFixture sample) : LocalTargetTestBase(sample)
{
    [Fact(Timeout = 180_000)]
    public async Task A_crash_at_start_names_the_exit_code_the_log_and_the_exception_text()
    {
        var ct = TestContext.Current.CancellationToken;
        var engine = new RolloutEngine(Target, new RolloutEngineOptions
        {
            StateDirectory = StateDirectory,
            StartTimeout = TimeSpan.FromSeconds(60),
            Drain = TimeSpan.Zero,
            GetEnvironmentVariable = _ => null,
            // A startup hook that does not exist: the runtime throws before Main, as a broken app would at start.
            InstanceEnvironment = new Dictionary<string, string> { ["DOTNET_STARTUP_HOOKS"] = "/no/such/crash-hook.dll" },
        });

        var result = await engine.DeployAsync(Scope, Sample.Release, RolloutStrategy.BlueGreen(1), ct);

        Assert.NotEqual(RolloutOutcomes.Succeeded, result.Outcome);
        var reason = result.Reason ?? "";
        Assert.Matches(@"is exited: exit code -?\d+", reason);
        Assert.Contains(Path.Combine(StateDirectory, "logs", Scope.Key), reason, StringComparison.Ordinal);
        Assert.Contains(".log", reason, StringComparison.Ordinal);
        Assert.Contains("Exception", reason, StringComparison.Ordinal);
        Assert.Contains("crash-hook", reason, StringComparison.Ordinal);
    }
}
