using Immutable.Build.Deployments;
using Immutable.Build.Targets;

namespace Immutable.Build.Core.Tests.Deployments;

/// <summary>The store a scope's target and its settings are remembered in, and how the deployer fills in from it.</summary>
public sealed class RememberedTargetsTests
{
    private readonly string _state = TestEnvironment.NewWorkDir("remembered");

    [Fact]
    public void A_saved_target_is_loaded_back_for_its_scope_only()
    {
        RememberedTargets.Save(_state, new RememberedTarget("hello", "production", "docker", new Dictionary<string, string> { ["ImmutableDockerHosts"] = "tcp://h:2376" }));
        RememberedTargets.Save(_state, new RememberedTarget("hello", "production", "docker", new Dictionary<string, string> { ["ImmutableDockerHosts"] = "tcp://other:2376" }));

        var loaded = RememberedTargets.Load(_state, new DeploymentScope("hello", "production"));
        Assert.NotNull(loaded);
        Assert.Equal("docker", loaded.Target);
        Assert.Equal("tcp://other:2376", loaded.Settings["immutabledockerhosts"]);
        Assert.Null(RememberedTargets.Load(_state, new DeploymentScope("hello", "default")));
        // "Hello" shares the file name of "hello", but is another app.
        Assert.Null(RememberedTargets.Load(_state, new DeploymentScope("Hello", "production")));
        Assert.Empty(Directory.GetFiles(Path.Combine(_state, "targets"), "*.tmp*"));
    }

    [Fact]
    public void Every_scope_is_listed_and_a_damaged_file_is_skipped()
    {
        RememberedTargets.Save(_state, new RememberedTarget("b", "default", "local", new Dictionary<string, string>()));
        RememberedTargets.Save(_state, new RememberedTarget("a", "default", "local", new Dictionary<string, string> { ["ImmutableLocalPort"] = "5090" }));
        File.WriteAllText(Path.Combine(_state, "targets", "c.default.json"), "{ torn");

        Assert.Equal(["a", "b"], RememberedTargets.All(_state).Select(t => t.App));
        Assert.Null(RememberedTargets.Load(_state, new DeploymentScope("c", "default")));
    }

    [Fact]
    public async Task Status_with_no_app_takes_the_one_app_and_its_target_settings_and_a_given_setting_wins()
    {
        var provider = new RecordingProvider();
        RememberedTargets.Save(_state, new RememberedTarget("hello", "default", "recording", new Dictionary<string, string> { ["ImmutableRecordingHost"] = "h1", ["ImmutableRecordingPort"] = "1" }));

        var status = await Deployer.StatusAsync(Options(provider), false, ReleaseLog.None, CancellationToken.None);
        Assert.Equal(new DeploymentScope("hello", "default"), status.Scope);
        Assert.Equal("h1", provider.Last!.Setting("ImmutableRecordingHost"));

        await Deployer.StatusAsync(Options(provider) with { TargetSettings = new Dictionary<string, string> { ["ImmutableRecordingHost"] = "h2" } }, false, ReleaseLog.None, CancellationToken.None);
        Assert.Equal(("h2", "1"), (provider.Last!.Setting("ImmutableRecordingHost"), provider.Last.Setting("ImmutableRecordingPort")));

        // Another target given: the remembered settings belong to the remembered target, not to it.
        var local = await Assert.ThrowsAsync<ImmutableBuildException>(() => Deployer.StatusAsync(Options(provider) with { Target = "local", TargetSettings = new Dictionary<string, string> { ["ImmutableLocalPort"] = "nope" } }, false, ReleaseLog.None, CancellationToken.None));
        Assert.Equal("IMB6104", local.Code);
        Assert.Equal(2, provider.Calls);
    }

    [Fact]
    public async Task Several_apps_in_the_state_and_no_app_given_is_IMB6106_naming_them()
    {
        RememberedTargets.Save(_state, new RememberedTarget("one", "default", "recording", new Dictionary<string, string>()));
        RememberedTargets.Save(_state, new RememberedTarget("two", "default", "recording", new Dictionary<string, string>()));

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => Deployer.StatusAsync(Options(new RecordingProvider()), false, ReleaseLog.None, CancellationToken.None));
        Assert.Equal("IMB6106", e.Code);
        Assert.Contains("one, two", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rollout_remembers_the_target_without_its_secret_settings()
    {
        var options = Options(new RecordingProvider()) with
        {
            App = "hello",
            Target = "recording",
            TargetSettings = new Dictionary<string, string> { ["ImmutableRecordingHost"] = "h1", ["ImmutableRecordingToken"] = "s3cret", ["ImmutableRecordingPort"] = " " },
        };
        // Nothing to roll back to (IMB6007), but the target was made, so the scope remembers it.
        await Assert.ThrowsAsync<ImmutableBuildException>(() => Deployer.RollbackAsync(options, null, ReleaseLog.None, CancellationToken.None));

        var remembered = RememberedTargets.Load(_state, new DeploymentScope("hello", "default"));
        Assert.NotNull(remembered);
        Assert.Equal("recording", remembered.Target);
        Assert.Equal(["ImmutableRecordingHost"], remembered.Settings.Keys);
        Assert.DoesNotContain("s3cret", File.ReadAllText(Path.Combine(_state, "targets", "hello.default.json")), StringComparison.Ordinal);
    }

    private DeploymentOptions Options(RecordingProvider provider) => new()
    {
        StateDirectory = _state,
        TargetProviders = [provider],
        GetEnvironmentVariable = _ => null,
        HostAssembly = "/nowhere/Immutable.Build.LocalHost.dll",
    };

    private sealed class RecordingProvider : IDeploymentTargetProvider
    {
        public TargetContext? Last { get; private set; }

        public int Calls { get; private set; }

        public string Name => "recording";

        public IReadOnlyList<TargetSetting> Settings { get; } =
        [
            new("ImmutableRecordingHost", "--recording-host", "A host."),
            new("ImmutableRecordingPort", "--recording-port", "A port."),
            new("ImmutableRecordingToken", "--recording-token", "A token.") { Secret = true },
        ];

        public IDeploymentTarget Create(TargetContext context)
        {
            Last = context;
            Calls++;
            return new InMemoryTarget();
        }
    }
}
