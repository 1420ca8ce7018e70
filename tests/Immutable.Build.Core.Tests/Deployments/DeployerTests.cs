using System.Security.Cryptography;
using System.Text;
using Immutable.Build.Core.Tests.Releases;
using Immutable.Build.Core.Tests.Rollout;
using Immutable.Build.Deployments;
using Immutable.Build.Releases;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;
using Microsoft.Extensions.Time.Testing;
using static Immutable.Build.Core.Tests.Rollout.RolloutTestKit;

namespace Immutable.Build.Core.Tests.Deployments;

/// <summary>
/// The deployer end to end without a publish or a real target: release.json files written with the real manifest
/// types, an <see cref="InMemoryTarget"/> whose instances a loopback server answers for, and a fake clock.
/// </summary>
public sealed class DeployerTests : IDisposable
{
    private static readonly CancellationToken Ct = CancellationToken.None;

    private readonly string _work = TestEnvironment.NewWorkDir("deployer");
    private readonly InstanceServer _server = new();
    private readonly FakeTimeProvider _time = new();
    private readonly MemoryProvider _provider;

    public DeployerTests()
    {
        _provider = new MemoryProvider(new InMemoryTarget(_server.AddressFor));
    }

    private string State => Path.Combine(_work, "state");

    public void Dispose() => _server.Dispose();

    [Fact]
    public async Task A_deploy_from_release_json_rolls_out_writes_rollout_md_beside_it_and_remembers_the_target()
    {
        var manifest = WriteRelease("v1");
        var options = Options() with
        {
            Target = "memory",
            TargetSettings = new Dictionary<string, string> { ["ImmutableMemoryZone"] = "z1", ["ImmutableMemoryToken"] = "s3cret" },
        };

        var result = await DriveAsync(_time, Deployer.DeployAsync(options, manifest, ReleaseLog.None, Ct));

        Assert.True(result.Succeeded, result.Reason);
        // The app comes from release.json; the image from its OCI layout, as an absolute oci: source.
        Assert.Equal(new DeploymentScope("hello", Deployer.DefaultEnvironment), result.Scope);
        Assert.Equal("oci:" + Path.Combine(Path.GetDirectoryName(manifest)!, "image"), result.Release.ImageSource);
        Assert.Equal(Digest("v1"), Assert.Single(_provider.Target.Launches).Release.ImageDigest);
        Assert.Equal("z1", _provider.Last!.Setting("ImmutableMemoryZone"));
        await AssertServesAsync(_provider.Target, result.Scope, result.Release);

        var report = Deployer.ReportPath(manifest);
        Assert.Equal(Path.Combine(Path.GetDirectoryName(manifest)!, Deployer.ReportName), report);
        Assert.Equal(result.Report, File.ReadAllText(report));
        Assert.Contains("v1", result.Report, StringComparison.Ordinal);

        var remembered = RememberedTargets.Load(State, result.Scope);
        Assert.NotNull(remembered);
        Assert.Equal("memory", remembered.Target);
        Assert.Equal(["ImmutableMemoryZone"], remembered.Settings.Keys);
    }

    [Fact]
    public async Task A_failed_rollout_still_writes_its_report()
    {
        _server.HealthStatus["v1"] = 503;
        var manifest = WriteRelease("v1");

        var result = await DriveAsync(_time, Deployer.DeployAsync(Options() with { Target = "memory", HealthTimeout = TimeSpan.FromSeconds(2) }, manifest, ReleaseLog.None, Ct));

        Assert.False(result.Succeeded);
        Assert.Equal(result.Report, File.ReadAllText(Deployer.ReportPath(manifest)));
    }

    [Fact]
    public async Task A_negative_Retain_fails_the_deploy_before_anything_rolls_out()
    {
        var manifest = WriteRelease("v1");

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => DriveAsync(_time, Deployer.DeployAsync(Options() with { Target = "memory", Retain = -1 }, manifest, ReleaseLog.None, Ct)));

        Assert.Equal(DeploymentErrors.InvalidRetain, e.Code);
        Assert.Empty(_provider.Target.Launches);
        Assert.Null(RememberedTargets.Load(State, new DeploymentScope("hello", Deployer.DefaultEnvironment)));
    }

    [Fact]
    public async Task After_a_second_release_a_rollback_on_the_remembered_target_returns_to_the_first_by_digest()
    {
        await DeployAsync("v1");
        await DeployAsync("v2");

        // No target given: the scope's remembered one is used, so the rollback reaches the same instances.
        var result = await DriveAsync(_time, Deployer.RollbackAsync(Options() with { App = "hello" }, null, ReleaseLog.None, Ct));

        Assert.True(result.Succeeded, result.Reason);
        Assert.Equal("rollback", result.Trigger);
        Assert.Equal("v1", result.Release.ReleaseId);
        Assert.Equal(Digest("v1"), result.Release.ImageDigest);
        Assert.Equal("v2", result.PreviousRelease?.ReleaseId);
        Assert.Equal(3, _provider.Calls);
        Assert.Equal(Digest("v1"), _provider.Target.Launches[^1].Release.ImageDigest);
        await AssertServesAsync(_provider.Target, result.Scope, result.Release);
    }

    [Fact]
    public async Task Status_is_in_sync_after_rollouts_and_history_lists_both_releases()
    {
        await DeployAsync("v1");
        await DeployAsync("v2");

        // No app and no target: the one app the state remembers, on its target.
        var status = await Deployer.StatusAsync(Options(), repair: false, ReleaseLog.None, Ct);
        Assert.True(status.InSync, string.Join("; ", status.Drift.Select(d => d.Reason)));
        Assert.Equal(new DeploymentScope("hello", Deployer.DefaultEnvironment), status.Scope);
        Assert.Equal("memory", status.Target);
        Assert.Equal("v2", status.Current?.ReleaseId);
        Assert.Equal(100, Assert.Single(status.Groups, g => g.IsCurrent).Weight);

        var history = await Deployer.HistoryAsync(Options() with { App = "hello" }, Ct);
        var rollouts = history.Where(e => e.IsSuccessfulRollout).ToList();
        Assert.Equal(["v1", "v2"], rollouts.Select(e => e.Release!.ReleaseId));
        Assert.Equal([Digest("v1"), Digest("v2")], rollouts.Select(e => e.Release!.ImageDigest));
    }

    [Fact]
    public async Task Prune_keeps_the_current_and_Retain_previous_releases()
    {
        // A deploy prunes too; keep everything until the explicit prune.
        foreach (var id in new[] { "v1", "v2", "v3" })
        {
            await DeployAsync(id, retain: 5);
        }

        var pruned = await DriveAsync(_time, Deployer.PruneAsync(Options() with { App = "hello", Retain = 1 }, ReleaseLog.None, Ct));

        Assert.Equal(["v3", "v2"], pruned.Kept.Select(r => r.ReleaseId));
        Assert.Equal(["v1"], pruned.Removed.Select(r => r.ReleaseId));
        Assert.Equal([Digest("v3"), Digest("v2")], _provider.Target.LastPruneKeep);

        var negative = await Assert.ThrowsAsync<ImmutableBuildException>(() => Deployer.PruneAsync(Options() with { App = "hello", Retain = -1 }, ReleaseLog.None, Ct));
        Assert.Equal(DeploymentErrors.InvalidRetain, negative.Code);
    }

    [Fact]
    public void A_release_comes_from_its_registry_reference_or_its_layout_as_an_absolute_oci_source()
    {
        var path = Path.Combine(_work, "obj", "release.json");

        var registry = Deployer.ReleaseFrom(Manifest("v1", registry: "registry.example:5000"), path);
        Assert.Equal("registry.example:5000/hello@" + Digest("v1"), registry.ImageSource);
        Assert.Equal(("v1", Digest("v1"), ReleaseProject.Commit), (registry.ReleaseId, registry.ImageDigest, registry.Commit));

        var layout = Deployer.ReleaseFrom(Manifest("v1", layout: "../layouts/image"), path);
        Assert.Equal("oci:" + Path.Combine(_work, "layouts", "image"), layout.ImageSource);
        Assert.True(Path.IsPathFullyQualified(layout.ImageSource["oci:".Length..]));

        // A relative release.json path is taken from the working folder.
        var relative = Deployer.ReleaseFrom(Manifest("v1", layout: "image"), Path.Combine("obj", "release.json"));
        Assert.Equal("oci:" + Path.GetFullPath(Path.Combine("obj", "image")), relative.ImageSource);

        var neither = Assert.Throws<ImmutableBuildException>(() => Deployer.ReleaseFrom(Manifest("v1"), path));
        Assert.Equal(DeploymentErrors.NoImageSource, neither.Code);
        Assert.Contains(path, neither.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_target_is_IMB6105_naming_the_available_ones()
    {
        var manifest = WriteRelease("v1");

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => Deployer.DeployAsync(Options() with { Target = "ec2" }, manifest, ReleaseLog.None, Ct));

        Assert.Equal(DeploymentErrors.UnknownTarget, e.Code);
        Assert.Contains("'ec2'", e.Message, StringComparison.Ordinal);
        Assert.Contains("local, memory", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, _provider.Calls);
        Assert.False(File.Exists(Deployer.ReportPath(manifest)));
        // A name is matched whatever its case and spacing.
        Assert.Same(_provider, TargetProviders.Find(" Memory ", [_provider]));
    }

    [Theory]
    [InlineData(nameof(RolloutSettings.Strategy), "blue", "IMB6001")]
    [InlineData(nameof(RolloutSettings.CanarySteps), "10;x;100", "IMB6002")]
    [InlineData(nameof(RolloutSettings.CanarySteps), "50;10;100", "IMB6002")]
    [InlineData(nameof(RolloutSettings.CanarySteps), "10;50", "IMB6002")]
    [InlineData(nameof(RolloutSettings.CanaryPause), "soon", "IMB6003")]
    [InlineData(nameof(RolloutSettings.Replicas), "0", "IMB6003")]
    [InlineData(nameof(RolloutSettings.Replicas), "two", "IMB6003")]
    [InlineData(nameof(RolloutSettings.KeepOldFor), "1y", "IMB6003")]
    [InlineData(nameof(RolloutSettings.BatchSize), "-1", "IMB6003")]
    [InlineData(nameof(DeploymentSettings.HealthTimeout), "a while", "IMB6003")]
    [InlineData(nameof(DeploymentSettings.Retain), "two", "IMB6102")]
    [InlineData(nameof(DeploymentSettings.Retain), "-1", "IMB6102")]
    [InlineData(nameof(DeploymentSettings.PrometheusUrl), "http://127.0.0.1:9090", "IMB6103")]
    [InlineData(nameof(DeploymentSettings.PrometheusUrl), "not a url", "IMB6103")]
    public void Each_bad_setting_string_is_its_IMB_code(string property, string value, string code)
    {
        var settings = property switch
        {
            nameof(RolloutSettings.Strategy) => new DeploymentSettings { Rollout = new() { Strategy = value } },
            nameof(RolloutSettings.CanarySteps) => new DeploymentSettings { Rollout = new() { Strategy = "canary", CanarySteps = value } },
            nameof(RolloutSettings.CanaryPause) => new DeploymentSettings { Rollout = new() { Strategy = "canary", CanaryPause = value } },
            nameof(RolloutSettings.Replicas) => new DeploymentSettings { Rollout = new() { Replicas = value } },
            nameof(RolloutSettings.KeepOldFor) => new DeploymentSettings { Rollout = new() { KeepOldFor = value } },
            nameof(RolloutSettings.BatchSize) => new DeploymentSettings { Rollout = new() { Strategy = "rolling", BatchSize = value } },
            nameof(DeploymentSettings.HealthTimeout) => new DeploymentSettings { HealthTimeout = value },
            nameof(DeploymentSettings.Retain) => new DeploymentSettings { Retain = value },
            // The URL alone: query and condition missing. A URL that is none: given with both.
            nameof(DeploymentSettings.PrometheusUrl) when Uri.IsWellFormedUriString(value, UriKind.Absolute) => new DeploymentSettings { PrometheusUrl = value },
            nameof(DeploymentSettings.PrometheusUrl) => new DeploymentSettings { PrometheusUrl = value, PrometheusQuery = "up", PrometheusCondition = "> 0" },
            _ => throw new ArgumentOutOfRangeException(nameof(property)),
        };

        var e = Assert.Throws<ImmutableBuildException>(() => settings.ToOptions());

        Assert.Equal(code, e.Code);
    }

    [Fact]
    public void Good_setting_strings_parse_to_typed_options()
    {
        Func<string, string?> environment = _ => null;
        var settings = new DeploymentSettings
        {
            Target = " memory ",
            App = " hello ",
            Environment = " production ",
            StateDirectory = State,
            TargetSettings = new Dictionary<string, string> { ["ImmutableMemoryZone"] = "z1", ["ImmutableMemoryToken"] = " " },
            LocalHostAssembly = "/opt/localhost/Immutable.Build.LocalHost.dll",
            Rollout = new() { Strategy = "Canary", Replicas = "3", CanarySteps = "10%, 50, 100", CanaryPause = "500ms", AnalysisWindow = "2m" },
            HealthPath = "/ready",
            HealthTimeout = "90",
            CheckReleaseIdentity = " FALSE ",
            PrometheusUrl = "http://127.0.0.1:9090",
            PrometheusQuery = "rate(errors[1m])",
            PrometheusCondition = "< 0.01",
            Retain = "0",
            PruneRegistry = " True ",
            InstanceEnvironment = new Dictionary<string, string> { ["GREETING"] = "hi" },
            GetEnvironmentVariable = environment,
            TargetProviders = [_provider],
        };

        var options = settings.ToOptions();

        Assert.Equal(("memory", "hello", "production"), (options.Target, options.App, options.Environment));
        Assert.Equal(State, options.StateDirectory);
        Assert.Equal(["ImmutableMemoryZone"], options.TargetSettings.Keys);
        Assert.Equal("z1", options.TargetSettings["immutablememoryzone"]);
        Assert.Equal("/opt/localhost/Immutable.Build.LocalHost.dll", options.HostAssembly);
        Assert.Equal(
            new RolloutOptions { Kind = RolloutKind.Canary, Replicas = 3, CanaryPause = TimeSpan.FromMilliseconds(500), AnalysisWindow = TimeSpan.FromMinutes(2) },
            options.Rollout! with { CanarySteps = null });
        Assert.Equal([10, 50, 100], options.Rollout.CanarySteps);
        Assert.Equal(("/ready", TimeSpan.FromSeconds(90), ReleaseIdentityCheck.Off), (options.HealthPath, options.HealthTimeout, options.CheckReleaseIdentity));
        Assert.Equal(new PrometheusGateOptions { Server = new Uri("http://127.0.0.1:9090"), Query = "rate(errors[1m])", Condition = "< 0.01" }, options.Prometheus);
        Assert.Equal((0, true), (options.Retain, options.PruneRegistry));
        Assert.Equal("hi", options.InstanceEnvironment["GREETING"]);
        Assert.Same(environment, options.GetEnvironmentVariable);
        Assert.Same(_provider, Assert.Single(options.TargetProviders!));
    }

    [Fact]
    public void Empty_setting_strings_are_the_defaults()
    {
        var options = new DeploymentSettings { Target = " ", App = "", Environment = " ", HealthPath = "", HealthTimeout = " ", Retain = "", CheckReleaseIdentity = "", PruneRegistry = "yes" }.ToOptions();

        Assert.Empty(options.TargetSettings);
        Assert.Null(options.StateDirectory);
        Assert.Null(options.HostAssembly);
        Assert.Null(options.Target);
        Assert.Null(options.App);
        Assert.Null(options.Rollout);
        Assert.Null(options.Prometheus);
        // Gates not given stay null: the scope's remembered ones, else the defaults, apply when the deployment opens.
        Assert.Equal((Deployer.DefaultEnvironment, null, null), (options.Environment, options.HealthPath, options.HealthTimeout));
        Assert.Equal(((ReleaseIdentityCheck?)null, 2, false, false), (options.CheckReleaseIdentity, options.Retain, options.PruneRegistry, options.NoPrometheus));
    }

    [Theory]
    [InlineData("auto", ReleaseIdentityCheck.Auto)]
    [InlineData(" True ", ReleaseIdentityCheck.Required)]
    [InlineData("false", ReleaseIdentityCheck.Off)]
    public void ImmutableCheckReleaseIdentity_is_auto_true_or_false(string value, ReleaseIdentityCheck expected) =>
        Assert.Equal(expected, new DeploymentSettings { CheckReleaseIdentity = value }.ToOptions().CheckReleaseIdentity);

    [Fact]
    public void A_bad_ImmutableCheckReleaseIdentity_is_IMB6003_naming_the_property_and_its_values()
    {
        var e = Assert.Throws<ImmutableBuildException>(() => new DeploymentSettings { CheckReleaseIdentity = "yes" }.ToOptions());
        Assert.Equal("IMB6003", e.Code);
        Assert.Contains("ImmutableCheckReleaseIdentity='yes'", e.Message, StringComparison.Ordinal);
        Assert.Contains("auto", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ImmutablePrometheusUrl_none_is_no_metric_gate_even_with_a_query()
    {
        var options = new DeploymentSettings { PrometheusUrl = " None ", PrometheusQuery = "up" }.ToOptions();
        Assert.True(options.NoPrometheus);
        Assert.Null(options.Prometheus);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_rollback_with_no_gate_option_probes_what_the_last_successful_deploy_probed_and_an_option_given_wins()
    {
        var ct = TestContext.Current.CancellationToken;
        // The app's health endpoint is /health, and it has no /version: the default gates would fail it.
        _server.HealthPaths.Clear();
        _server.HealthPaths.Add("health");
        _server.WithoutVersion.UnionWith(["v1", "v2"]);
        var deploy = Options() with { Target = "memory", HealthPath = "/health", HealthTimeout = TimeSpan.FromSeconds(5) };
        Assert.True((await DriveAsync(_time, Deployer.DeployAsync(deploy, WriteRelease("v1"), ReleaseLog.None, ct))).Succeeded);
        var warnings = new List<string>();
        var log = new ReleaseLog(_ => { }, _ => { }, (code, w) => warnings.Add($"{code}: {w}"));
        Assert.True((await DriveAsync(_time, Deployer.DeployAsync(Options() with { Target = "memory" }, WriteRelease("v2"), log, ct))).Succeeded);
        // auto: /version answered 404, so the identity check was skipped, visibly.
        Assert.Contains(warnings, w => w.StartsWith("IMB6020: ", StringComparison.Ordinal) && w.Contains("ImmutableCheckReleaseIdentity=false", StringComparison.Ordinal));

        var rollback = await DriveAsync(_time, Deployer.RollbackAsync(Options() with { App = "hello" }, null, ReleaseLog.None, ct));

        Assert.True(rollback.Succeeded, rollback.Reason);
        Assert.Equal("v1", rollback.Release.ReleaseId);
        Assert.Contains(rollback.Gates, g => g.Gate == "http /health" && g.Passed);
        var remembered = RememberedTargets.Load(State, rollback.Scope)!.Gates;
        Assert.Equal(("/health", "5000ms"), (remembered["ImmutableHealthPath"], remembered["ImmutableHealthTimeout"]));

        // Given, an option wins over the remembered one (and this one fails at once: /healthz answers 404 here).
        var wrong = await DriveAsync(_time, Deployer.RollbackAsync(Options() with { App = "hello", HealthPath = "/healthz" }, "v2", ReleaseLog.None, ct));
        Assert.False(wrong.Succeeded);
        Assert.Contains("ImmutableHealthPath", wrong.Reason, StringComparison.Ordinal);
        // A failed rollout teaches the scope nothing.
        Assert.Equal("/health", RememberedTargets.Load(State, rollback.Scope)!.Gates["ImmutableHealthPath"]);
    }

    [Fact(Timeout = 60_000)]
    public async Task ImmutableCheckReleaseIdentity_true_fails_a_release_without_version_naming_the_property()
    {
        var ct = TestContext.Current.CancellationToken;
        _server.WithoutVersion.Add("v1");

        var result = await DriveAsync(_time, Deployer.DeployAsync(Options() with { Target = "memory", CheckReleaseIdentity = ReleaseIdentityCheck.Required }, WriteRelease("v1"), ReleaseLog.None, ct));

        Assert.False(result.Succeeded);
        Assert.Contains("answered 404, but ImmutableCheckReleaseIdentity=true needs /version", result.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("", false)]
    [InlineData("  ", false)]
    [InlineData("none", false)]
    [InlineData(" None ", false)]
    [InlineData("local", true)]
    [InlineData("docker", true)]
    public void HasTarget_is_false_for_no_target_and_none(string? target, bool expected) =>
        Assert.Equal(expected, Deployer.HasTarget(new DeploymentSettings { Target = target }));

    private DeploymentOptions Options() => new()
    {
        StateDirectory = State,
        TargetProviders = [_provider],
        GetEnvironmentVariable = _ => null,
        HostAssembly = "/nowhere/Immutable.Build.LocalHost.dll",
        Time = _time,
    };

    private async Task DeployAsync(string id, int retain = 2)
    {
        var result = await DriveAsync(_time, Deployer.DeployAsync(Options() with { Target = "memory", Retain = retain }, WriteRelease(id), ReleaseLog.None, Ct));
        Assert.True(result.Succeeded, result.Reason);
    }

    private string WriteRelease(string id)
    {
        var path = Path.Combine(_work, id, "obj", "immutable", Deployer.ReleaseManifestName);
        ReleaseManifestFile.Write(path, Manifest(id, layout: "image"));
        return path;
    }

    private static string Digest(string id) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)));

    private static ReleaseManifest Manifest(string id, string? registry = null, string? layout = null)
    {
        var digest = Digest(id);
        var reference = (registry is null ? "" : registry + "/") + "hello@" + digest;
        return new ReleaseManifest
        {
            App = "hello",
            ReleaseId = id,
            Source = new ReleaseSource(ReleaseProject.Commit, ReleaseProject.Commit[..7], false, ReleaseProject.CommitTime, null, "explicit"),
            Image = new ReleaseImage
            {
                Registry = registry,
                Repository = "hello",
                Digest = digest,
                Reference = reference,
                MediaType = "application/vnd.oci.image.manifest.v1+json",
                Tags = [id],
                Engine = "immutable",
                Reproducible = true,
                Outputs = layout is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["ociLayout"] = layout },
            },
            Build = new ReleaseBuildInfo("10.0.100", "Release", "net10.0", "linux-x64", "1.0.0"),
            Provenance = new ProvenanceStatement(
                "https://in-toto.io/Statement/v1",
                [new ProvenanceSubject(reference, new Dictionary<string, string> { ["sha256"] = digest["sha256:".Length..] })],
                "https://slsa.dev/provenance/v1",
                new SlsaProvenance(
                    new SlsaBuildDefinition("https://immutable.build/oci/v1", new Dictionary<string, string>(), []),
                    new SlsaRunDetails(new SlsaBuilder("https://immutable.build")))),
        };
    }

    /// <summary>Hands out one in-memory target, so every command of a test sees the same instances.</summary>
    private sealed class MemoryProvider(InMemoryTarget target) : IDeploymentTargetProvider
    {
        public InMemoryTarget Target { get; } = target;

        public TargetContext? Last { get; private set; }

        public int Calls { get; private set; }

        public string Name => "memory";

        public IReadOnlyList<TargetSetting> Settings { get; } =
        [
            new("ImmutableMemoryZone", "--memory-zone", "A zone."),
            new("ImmutableMemoryToken", "--memory-token", "A token.") { Secret = true },
        ];

        public IDeploymentTarget Create(TargetContext context)
        {
            Last = context;
            Calls++;
            return Target;
        }
    }
}
