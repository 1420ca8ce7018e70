using System.Formats.Tar;
using System.Net;
using System.Net.Sockets;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>A proxy port that is taken is found before a rollout writes or launches anything (no published sample needed).</summary>
public sealed class LocalPortPreflightTests : IAsyncLifetime
{
    private static readonly DeploymentScope Scope = new("port-app", "test");

    private readonly string _work = TestEnvironment.NewWorkDir("local-port");

    private string StateDirectory => Path.Combine(_work, "state");

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await LocalHostControl.StopAsync(StateDirectory, TimeSpan.FromSeconds(5), CancellationToken.None);

    [Fact(Timeout = 120_000)]
    public async Task A_port_held_by_another_program_fails_the_deploy_before_the_journal_the_ledger_or_an_instance()
    {
        var ct = TestContext.Current.CancellationToken;
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var port = ((IPEndPoint)busy.LocalEndpoint).Port;
        var (layout, digest) = HandmadeLayout.Write(
            Path.Combine(_work, "layout"),
            [new HandmadeLayout.Entry("app/", TarEntryType.Directory), new HandmadeLayout.Entry("app/app.dll", TarEntryType.RegularFile, "not run")]);
        var release = new ReleaseRef("r1", $"port-app@{digest}", digest.Value, $"oci:{layout}", null);
        var target = new LocalTarget(new LocalTargetOptions(StateDirectory, SampleReleaseFixture.HostAssembly, port) { StopGrace = TimeSpan.FromSeconds(2) });
        var engine = new RolloutEngine(target, new RolloutEngineOptions { StateDirectory = StateDirectory, StartTimeout = TimeSpan.FromSeconds(20), Drain = TimeSpan.Zero, GetEnvironmentVariable = _ => null });

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => engine.DeployAsync(Scope, release, RolloutStrategy.BlueGreen(1), ct));

        Assert.Equal("IMB7004", e.Code);
        Assert.Contains($"port {port} is in use by another program", e.Message, StringComparison.Ordinal);
        Assert.Contains("Set ImmutableLocalPort to a free port", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("..", e.Message, StringComparison.Ordinal);
        var scopeDirectory = engine.ScopeDirectory(Scope);
        Assert.False(File.Exists(Path.Combine(scopeDirectory, "journal.jsonl")), "nothing is journalled");
        Assert.False(File.Exists(Path.Combine(scopeDirectory, "ledger.jsonl")), "nothing is in the ledger");
        Assert.Null(await LocalHostControl.TryConnectAsync(StateDirectory, ct));
        Assert.False(Directory.Exists(Path.Combine(StateDirectory, "releases")), "the release was not even unpacked");
    }

    [Fact(Timeout = 120_000)]
    public async Task A_deploy_to_a_taken_port_remembers_and_stores_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var port = ((IPEndPoint)busy.LocalEndpoint).Port;
        var (layout, digest) = HandmadeLayout.Write(
            Path.Combine(_work, "layout"),
            [new HandmadeLayout.Entry("app/", TarEntryType.Directory), new HandmadeLayout.Entry("app/app.dll", TarEntryType.RegularFile, "not run")]);
        var release = new ReleaseRef("r1", $"port-app@{digest}", digest.Value, $"oci:{layout}", null);
        var options = new Immutable.Build.Deployments.DeploymentOptions
        {
            App = Scope.App,
            Environment = Scope.Environment,
            Target = "local",
            TargetSettings = new Dictionary<string, string> { ["ImmutableLocalPort"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            StateDirectory = StateDirectory,
            HostAssembly = SampleReleaseFixture.HostAssembly,
            GetEnvironmentVariable = _ => null,
        };

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => Immutable.Build.Deployments.Deployer.DeployAsync(options, release, ReleaseLog.None, ct));

        Assert.Equal("IMB7004", e.Code);
        var written = Directory.Exists(StateDirectory) ? Directory.GetFiles(StateDirectory, "*", SearchOption.AllDirectories) : [];
        Assert.True(written.Length == 0, "nothing is remembered or stored: " + string.Join(", ", written));
    }

    [Fact(Timeout = 120_000)]
    public async Task The_scopes_own_proxy_on_the_port_is_fine_and_another_apps_proxy_there_is_named()
    {
        var ct = TestContext.Current.CancellationToken;
        int port;
        using (var free = new TcpListener(IPAddress.Loopback, 0))
        {
            free.Start();
            port = ((IPEndPoint)free.LocalEndpoint).Port;
        }

        IDeploymentTarget target = new LocalTarget(new LocalTargetOptions(StateDirectory, SampleReleaseFixture.HostAssembly, port) { StopGrace = TimeSpan.FromSeconds(2) });
        await target.RouteAsync(Scope, new Dictionary<string, int>(), ct);

        await target.PrepareAsync(Scope, ct);
        var other = new DeploymentScope("other-app", "test");
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => target.PrepareAsync(other, ct));

        Assert.Equal("IMB7004", e.Code);
        Assert.Contains($"the proxy of {Scope.Key} listens there", e.Message, StringComparison.Ordinal);
        Assert.Contains("ImmutableLocalPort", e.Message, StringComparison.Ordinal);
    }
}
