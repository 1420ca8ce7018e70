using Immutable.Build.Rollout;
using static Immutable.Build.Core.Tests.Rollout.RolloutTestKit;

namespace Immutable.Build.Core.Tests.Rollout;

/// <summary>Composed failure messages end each sentence once, though the reasons they quote end in a full stop of their own.</summary>
public sealed class MessageJoiningTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewWorkDir("rollout-messages");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact(Timeout = 60_000)]
    public async Task A_failed_rollout_whose_rollback_failed_too_has_no_doubled_full_stop()
    {
        var target = new InMemoryTarget();
        target.BeforeCall = op =>
        {
            if (op is "launch" or "route")
            {
                throw new ImmutableBuildException("IMB7004", "The proxy cannot listen on 127.0.0.1:5080: it is taken. Set ImmutableLocalPort to a free port, or stop what holds 5080.");
            }
        };
        var engine = new RolloutEngine(target, Options(_dir));

        var result = await engine.DeployAsync(Scope(), Release("v1"), RolloutStrategy.BlueGreen(1), TestContext.Current.CancellationToken);
        var e = Assert.Throws<ImmutableBuildException>(result.ThrowIfNotSucceeded);

        Assert.Equal(RolloutOutcomes.Failed, result.Outcome);
        Assert.Contains("stop what holds 5080; rolling back failed too", result.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("..", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(".;", e.Message, StringComparison.Ordinal);
        Assert.Contains("stop what holds 5080. Run `immutable status --repair`", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_rolled_back_rollout_ends_its_reason_once()
    {
        var result = new RolloutResult
        {
            RolloutId = "hello.test-2",
            Scope = Scope(),
            Release = Release("v2"),
            PreviousRelease = Release("v1"),
            Trigger = "deploy",
            Strategy = RolloutKind.BlueGreen,
            Outcome = RolloutOutcomes.RolledBack,
            Reason = "health gate failed: /healthz answered 404. Set ImmutableHealthPath to the app's health endpoint.",
            Groups = [],
            Steps = [],
            Gates = [],
        };

        var e = Assert.Throws<ImmutableBuildException>(result.ThrowIfNotSucceeded);

        Assert.Contains("health endpoint. Release v1 serves again.", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("..", e.Message, StringComparison.Ordinal);
    }
}
