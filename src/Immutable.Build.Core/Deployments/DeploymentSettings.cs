using Immutable.Build.Targets.Local;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;

namespace Immutable.Build.Deployments;

/// <summary>
/// Where and how to roll a release out, as the adapters read it from MSBuild properties, Cake settings
/// or CLI options (strings, so that each adapter only copies values; parsing and errors live here).
/// </summary>
public sealed record DeploymentSettings
{
    /// <summary>ImmutableTarget: local (the embedded default), or empty for none.</summary>
    public string? Target { get; init; }

    /// <summary>The app name (release.json's app).</summary>
    public required string App { get; init; }

    /// <summary>ImmutableEnvironment, default <c>default</c>.</summary>
    public string? Environment { get; init; }

    /// <summary>ImmutableStateDir; default IMMUTABLE_STATE_DIR, then the XDG state folder.</summary>
    public string? StateDirectory { get; init; }

    /// <summary>ImmutableLocalPort: the local target's stable proxy port (default 5080).</summary>
    public string? LocalPort { get; init; }

    /// <summary>The local host's assembly (shipped in the package and the tool).</summary>
    public string? LocalHostAssembly { get; init; }

    /// <summary>Strategy, replicas, canary steps, pauses.</summary>
    public RolloutSettings Rollout { get; init; } = new();

    /// <summary>ImmutableHealthPath, default /healthz.</summary>
    public string? HealthPath { get; init; }

    /// <summary>ImmutableHealthTimeout (seconds or 30s, 2m), default 60s.</summary>
    public string? HealthTimeout { get; init; }

    /// <summary>ImmutableCheckReleaseIdentity: the instance's /version must name the release (default true).</summary>
    public string? CheckReleaseIdentity { get; init; }

    /// <summary>ImmutablePrometheusUrl: a Prometheus server for the metric gate.</summary>
    public string? PrometheusUrl { get; init; }

    /// <summary>ImmutablePrometheusQuery: PromQL; {release} and {group} are replaced.</summary>
    public string? PrometheusQuery { get; init; }

    /// <summary>ImmutablePrometheusCondition, e.g. <c>&lt; 0.01</c>.</summary>
    public string? PrometheusCondition { get; init; }

    /// <summary>ImmutableRetain: previous releases kept on the target (default 2).</summary>
    public string? Retain { get; init; }

    /// <summary>ImmutablePruneRegistry: also delete pruned releases' manifests from their registry (default false).</summary>
    public string? PruneRegistry { get; init; }

    /// <summary>Environment variables for every instance (ImmutableInstanceEnvironment items).</summary>
    public IReadOnlyDictionary<string, string> InstanceEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Environment lookup (state dir, GITHUB_STEP_SUMMARY, credentials); null = the process's.</summary>
    public Func<string, string?>? GetEnvironmentVariable { get; init; }

    /// <summary>The Docker target's settings (ImmutableTarget=docker).</summary>
    public DockerDeploymentSettings Docker { get; init; } = new();

    /// <summary>Targets beyond the built-in local one that the adapter ships (docker, ...).</summary>
    public IReadOnlyList<IDeploymentTargetProvider> TargetProviders { get; init; } = [];
}

/// <summary>The Docker target's settings, as strings from ImmutableDocker* properties or CLI options.</summary>
public sealed record DockerDeploymentSettings
{
    /// <summary>ImmutableDockerHosts: engine endpoints separated by ';' (unix:///var/run/docker.sock, tcp://host:2376); default DOCKER_HOST, then the local socket.</summary>
    public string? Hosts { get; init; }

    /// <summary>ImmutableDockerTlsCertPath: a folder with ca.pem, cert.pem and key.pem for tcp endpoints; default DOCKER_CERT_PATH when DOCKER_TLS_VERIFY is set.</summary>
    public string? TlsCertPath { get; init; }

    /// <summary>ImmutableDockerHostBatch: hosts launched at once (1 = host by host, the default; 0 = all at once).</summary>
    public string? HostBatch { get; init; }

    /// <summary>ImmutableDockerProxyPort: the stable port of the app's proxy on each host (default 8080).</summary>
    public string? ProxyPort { get; init; }

    /// <summary>ImmutableDockerRestartPolicy: no, on-failure[:N], unless-stopped (default) or always.</summary>
    public string? RestartPolicy { get; init; }

    /// <summary>ImmutableDockerMemory: memory limit per container, e.g. 512m or 1g.</summary>
    public string? Memory { get; init; }

    /// <summary>ImmutableDockerCpus: CPU limit per container, e.g. 1.5.</summary>
    public string? Cpus { get; init; }

    /// <summary>ImmutableDockerStopGrace: between SIGTERM and SIGKILL when a container is stopped (default 10s).</summary>
    public string? StopGrace { get; init; }
}
