using Immutable.Build.Rollout;

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
}
