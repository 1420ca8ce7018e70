using Immutable.Build.Targets;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>
/// Group stops on a real host while the group's processes end by themselves at the same moment: the stop
/// disposes the process handles while the runtime raises their Exited events, the window of the lock-order
/// inversion that once hung the host (about 1 stop in 13). Short-lived shells, no release needed.
/// </summary>
public sealed class HostStopStressTests : IAsyncLifetime
{
    private const int Stops = 200;
    private static readonly DeploymentScope Scope = new("stress", "test");
    private string _stateDirectory = "";

    public ValueTask InitializeAsync()
    {
        if (!File.Exists(SampleReleaseFixture.HostAssembly))
        {
            throw new InvalidOperationException($"{SampleReleaseFixture.HostAssembly} is missing: build the solution first.");
        }

        _stateDirectory = Path.Combine(TestEnvironment.NewWorkDir("host-stop-stress"), "state");
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync() =>
        await LocalHostControl.StopAsync(_stateDirectory, TimeSpan.FromSeconds(2), CancellationToken.None);

    [Fact(Timeout = 240_000)]
    public async Task Many_group_stops_racing_the_instances_own_exits_never_hang_the_host()
    {
        var ct = TestContext.Current.CancellationToken;
        var options = new LocalTargetOptions(_stateDirectory, SampleReleaseFixture.HostAssembly, ProxyPort: 0);
        using var control = await LocalHostControl.ConnectOrStartAsync(options, ct);
        await control.EnsureScopeAsync(Scope, 0, ct);
        var workDir = Path.GetDirectoryName(_stateDirectory)!;

        for (var n = 0; n < Stops; n++)
        {
            var group = $"g{n}";

            // Each replica ends on its own a few milliseconds apart, around the moment the stop arrives.
            var delay = (n % 4 * 0.005).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
            var command = new LocalLaunchCommand(
                group, $"r{n}", "sha256:" + new string('0', 64), null, 3, "/bin/sh", ["-c", $"sleep {delay}"], workDir, new Dictionary<string, string>(), workDir);
            await control.LaunchAsync(Scope, command, ct);

            using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
            bound.CancelAfter(TimeSpan.FromSeconds(20));
            try
            {
                var stopped = await control.StopGroupAsync(Scope, group, TimeSpan.Zero, TimeSpan.FromSeconds(2), bound.Token);
                Assert.Equal(3, stopped.Count);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                Assert.Fail($"Stop {n + 1} of {Stops} (group {group}) did not answer within 20 s: the host hangs.");
            }
        }

        // The host still answers after all of them, with nothing left of the groups.
        using var status = CancellationTokenSource.CreateLinkedTokenSource(ct);
        status.CancelAfter(TimeSpan.FromSeconds(10));
        Assert.Empty(await control.ListAsync(status.Token));
    }
}
