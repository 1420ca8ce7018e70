using Immutable.Build.Deployments;
using Immutable.Build.Docker;
using Immutable.Build.Rollout;

namespace Immutable.Build.Cake;

/// <summary>Settings for <see cref="ImmutableAliases.ImmutableBake"/>: the MSBuild properties of the publish.</summary>
public sealed class ImmutableBakeSettings
{
    /// <summary>The build configuration (default Release).</summary>
    public string Configuration { get; set; } = "Release";

    /// <summary>The target framework, for a project with several.</summary>
    public string? Framework { get; set; }

    /// <summary>The runtime identifier (ContainerRuntimeIdentifier decides the image's platform).</summary>
    public string? Runtime { get; set; }

    /// <summary>ContainerRegistry: where the image is pushed; none writes an OCI layout on disk.</summary>
    public string? Registry { get; set; }

    /// <summary>ContainerRepository.</summary>
    public string? Repository { get; set; }

    /// <summary>ContainerBaseImage.</summary>
    public string? BaseImage { get; set; }

    /// <summary>ImmutableTarget: roll the release out right after it is recorded (local, docker); none by default.</summary>
    public string? Target { get; set; }

    /// <summary>ImmutableEnvironment.</summary>
    public string? Environment { get; set; }

    /// <summary>ImmutableStateDir.</summary>
    public string? StateDirectory { get; set; }

    /// <summary>ImmutableStateUrl: s3://bucket/prefix or docker:// for a lock and history every runner shares.</summary>
    public string? StateUrl { get; set; }

    /// <summary>Any other MSBuild property (ImmutableStrategy, ImmutableReplicas, ContainerImageTags, ...).</summary>
    public IDictionary<string, string> Properties { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Environment variables for the publish (registry credentials, DOTNET_CONTAINER_INSECURE_REGISTRIES, ...).</summary>
    public IDictionary<string, string?> EnvironmentVariables { get; } = new Dictionary<string, string?>(StringComparer.Ordinal);

    /// <summary>Sets an MSBuild property; returns the settings, for chaining.</summary>
    public ImmutableBakeSettings WithProperty(string name, string value)
    {
        Properties[name] = value;
        return this;
    }

    internal Dictionary<string, string> AllProperties()
    {
        var all = new Dictionary<string, string>(Properties, StringComparer.Ordinal);
        void Set(string name, string? value)
        {
            if (value is not null)
            {
                all[name] = value;
            }
        }

        Set("ContainerRegistry", Registry);
        Set("ContainerRepository", Repository);
        Set("ContainerBaseImage", BaseImage);
        Set("ImmutableTarget", Target);
        Set("ImmutableEnvironment", Environment);
        Set("ImmutableStateDir", StateDirectory);
        Set("ImmutableStateUrl", StateUrl);
        return all;
    }
}

/// <summary>Where an app runs: the target and its settings. The base of the rollout, rollback, status and prune settings.</summary>
public abstract class ImmutableTargetSettings
{
    /// <summary>The target: local, docker or ec2. Default: the target of the app's last rollout, else local.</summary>
    public string? Target { get; set; }

    /// <summary>The app (release.json's app); taken from the release when one is given, else the one app the state remembers.</summary>
    public string? App { get; set; }

    /// <summary>The environment (default: default).</summary>
    public string? Environment { get; set; }

    /// <summary>The state directory (journal, lock, ledger); default $IMMUTABLE_STATE_DIR, then ~/.local/state/immutable-build.</summary>
    public string? StateDirectory { get; set; }

    /// <summary>
    /// Where the lock, journal and ledger live when every runner must share them: s3://bucket/prefix or docker://
    /// (the first Docker host). Default: $IMMUTABLE_STATE_URL, else the state directory.
    /// </summary>
    public string? StateUrl { get; set; }

    /// <summary>The local target's proxy port (default 5080).</summary>
    public int? LocalPort { get; set; }

    /// <summary>Docker target: engine endpoints separated by ';'.</summary>
    public string? DockerHosts { get; set; }

    /// <summary>Docker target: a folder with ca.pem, cert.pem and key.pem for tcp endpoints.</summary>
    public string? DockerTlsCertPath { get; set; }

    /// <summary>Docker target: the app's stable port on each host (default 8080).</summary>
    public int? DockerProxyPort { get; set; }

    /// <summary>Docker target: hosts launched at once (1, N or all).</summary>
    public string? DockerHostBatch { get; set; }

    /// <summary>
    /// Any target's setting by its MSBuild property (ImmutableDockerMemory, ...), as that property's value. A setting
    /// not given is the one of the app's last rollout on the same target.
    /// </summary>
    public IDictionary<string, string> TargetSettings { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The HTTP gate's path. Null: that of the app's last successful rollout, else /healthz.</summary>
    public string? HealthPath { get; set; }

    /// <summary>How long an instance may take to become healthy. Null: that of the app's last successful rollout, else 60s.</summary>
    public TimeSpan? HealthTimeout { get; set; }

    /// <summary>The release-identity gate: auto (checked when the app answers /version), true (required) or false. Null: the last successful rollout's, else auto.</summary>
    public string? CheckReleaseIdentity { get; set; }

    /// <summary>A Prometheus server for the metric gate; "none": no metric gate. Null: the last successful rollout's, if any.</summary>
    public string? PrometheusUrl { get; set; }

    /// <summary>PromQL for the metric gate; {release} and {group} are replaced.</summary>
    public string? PrometheusQuery { get; set; }

    /// <summary>The metric gate's success condition, e.g. "&lt; 0.01".</summary>
    public string? PrometheusCondition { get; set; }

    internal virtual DeploymentOptions ToOptions() => new()
    {
        Target = string.IsNullOrWhiteSpace(Target) ? null : Target.Trim(),
        App = string.IsNullOrWhiteSpace(App) ? null : App.Trim(),
        Environment = string.IsNullOrWhiteSpace(Environment) ? Deployer.DefaultEnvironment : Environment.Trim(),
        StateDirectory = string.IsNullOrWhiteSpace(StateDirectory) ? null : StateDirectory,
        StateUrl = string.IsNullOrWhiteSpace(StateUrl) ? null : StateUrl.Trim(),
        TargetSettings = AllTargetSettings(),
        HealthPath = string.IsNullOrWhiteSpace(HealthPath) ? null : HealthPath,
        HealthTimeout = HealthTimeout,
        CheckReleaseIdentity = DeploymentSettings.ParseReleaseIdentityCheck(CheckReleaseIdentity),
        Prometheus = DeploymentSettings.IsNone(PrometheusUrl) ? null : DeploymentSettings.ParsePrometheus(PrometheusUrl, PrometheusQuery, PrometheusCondition),
        NoPrometheus = DeploymentSettings.IsNone(PrometheusUrl),
    };

    // A target's settings are its own to parse, so the typed ones go to it as the text of their property.
    private Dictionary<string, string> AllTargetSettings()
    {
        var all = new Dictionary<string, string>(TargetSettings, StringComparer.OrdinalIgnoreCase);
        void Set(string property, string? value)
        {
            if (!string.IsNullOrWhiteSpace(value))
            {
                all[property] = value;
            }
        }

        var c = System.Globalization.CultureInfo.InvariantCulture;
        Set(Targets.Local.LocalTargetProvider.PortProperty, LocalPort?.ToString(c));
        Set(DockerSettings.Hosts, DockerHosts);
        Set(DockerSettings.TlsCertPath, DockerTlsCertPath);
        Set(DockerSettings.ProxyPort, DockerProxyPort?.ToString(c));
        Set(DockerSettings.HostBatch, DockerHostBatch);
        return all;
    }
}

/// <summary>Settings for <see cref="ImmutableAliases.ImmutableRollout(global::Cake.Core.ICakeContext, ImmutableRelease, ImmutableRolloutSettings?)"/>.</summary>
public sealed class ImmutableRolloutSettings : ImmutableTargetSettings
{
    /// <summary>bluegreen (default), canary or rolling.</summary>
    public string? Strategy { get; set; }

    /// <summary>Instances to run (per host on Docker); default 1.</summary>
    public int? Replicas { get; set; }

    /// <summary>Canary traffic percentages, e.g. 10;50;100.</summary>
    public string? CanarySteps { get; set; }

    /// <summary>Pause after each canary step.</summary>
    public TimeSpan? CanaryPause { get; set; }

    /// <summary>Blue-green: how long the old group stays after the switch.</summary>
    public TimeSpan? KeepOldFor { get; set; }

    /// <summary>Rolling: instances per batch.</summary>
    public int? BatchSize { get; set; }

    /// <summary>How long the analysis gates observe after each traffic step.</summary>
    public TimeSpan? AnalysisWindow { get; set; }

    /// <summary>Previous releases kept on the target (default 2).</summary>
    public int? Retain { get; set; }

    /// <summary>Environment variables for every instance.</summary>
    public IDictionary<string, string> InstanceEnvironment { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    internal override DeploymentOptions ToOptions() => base.ToOptions() with
    {
        Rollout = Rollout(),
        Retain = Retain ?? 2,
        InstanceEnvironment = new Dictionary<string, string>(InstanceEnvironment, StringComparer.Ordinal),
    };

    private RolloutOptions? Rollout()
    {
        if (string.IsNullOrWhiteSpace(Strategy) && Replicas is null && string.IsNullOrWhiteSpace(CanarySteps) && CanaryPause is null && KeepOldFor is null && BatchSize is null && AnalysisWindow is null)
        {
            return null;
        }

        var kind = RolloutSettings.ParseKind(Strategy);
        return new RolloutOptions
        {
            Kind = kind,
            Replicas = Replicas ?? 1,
            CanarySteps = kind == RolloutKind.Canary ? RolloutSettings.ParseWeights(CanarySteps) : null,
            CanaryPause = CanaryPause ?? TimeSpan.Zero,
            KeepOldFor = KeepOldFor ?? TimeSpan.Zero,
            BatchSize = BatchSize ?? 1,
            AnalysisWindow = AnalysisWindow ?? TimeSpan.Zero,
        };
    }
}

/// <summary>Settings for <see cref="ImmutableAliases.ImmutableRollback"/>.</summary>
public sealed class ImmutableRollbackSettings : ImmutableTargetSettings
{
    /// <summary>The release id (or digest) to return to; default the previous successful release.</summary>
    public string? To { get; set; }
}

/// <summary>Settings for <see cref="ImmutableAliases.ImmutableStatus"/>.</summary>
public sealed class ImmutableStatusSettings : ImmutableTargetSettings
{
    /// <summary>Converge an interrupted rollout before reporting.</summary>
    public bool Repair { get; set; }
}

/// <summary>Settings for <see cref="ImmutableAliases.ImmutablePrune"/>.</summary>
public sealed class ImmutablePruneSettings : ImmutableTargetSettings
{
    /// <summary>Previous releases kept (default 2).</summary>
    public int? Retain { get; set; }

    /// <summary>Also delete the pruned releases' images from their registry, by digest.</summary>
    public bool Registry { get; set; }

    internal override DeploymentOptions ToOptions() => base.ToOptions() with { Retain = Retain ?? 2, PruneRegistry = Registry };
}

/// <summary>Settings for <see cref="ImmutableAliases.ImmutableBakeAmi"/>: the EC2 target's ImmutableAws* settings go in <see cref="ImmutableTargetSettings.TargetSettings"/>.</summary>
public sealed class ImmutableBakeAmiSettings : ImmutableTargetSettings
{
    internal override DeploymentOptions ToOptions() => base.ToOptions() is var options && options.Target is null ? options with { Target = "ec2" } : options;
}

/// <summary>A release, as <see cref="ImmutableAliases.ImmutableBake"/> returns it.</summary>
/// <param name="Id">The release id.</param>
/// <param name="App">The app.</param>
/// <param name="Digest">The image manifest digest (sha256:...).</param>
/// <param name="Reference">repository@sha256:...</param>
/// <param name="Tags">The tags of the release.</param>
/// <param name="ManifestPath">The absolute path of its release.json.</param>
/// <param name="RolloutOutcome">The outcome of the rollout the publish ran (with a Target), else null.</param>
public sealed record ImmutableRelease(string Id, string App, string Digest, string Reference, IReadOnlyList<string> Tags, string ManifestPath, string? RolloutOutcome);
