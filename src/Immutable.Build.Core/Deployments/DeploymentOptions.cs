using Immutable.Build.Rollout;
using Immutable.Build.Targets;

namespace Immutable.Build.Deployments;

/// <summary>
/// Where and how to roll a release out, as typed values: what <see cref="Deployer"/> works with. The Cake aliases
/// build it from their typed settings; MSBuild and CLI strings reach it through <see cref="DeploymentSettings.ToOptions"/>.
/// The target's own settings stay a name-value view: the target's provider parses them.
/// </summary>
public sealed record DeploymentOptions
{
    /// <summary>The app (release.json's app); null: the release's app, else the one app the state remembers.</summary>
    public string? App { get; init; }

    /// <summary>The environment.</summary>
    public string Environment { get; init; } = Deployer.DefaultEnvironment;

    /// <summary>The target's name (local, docker, ...); null: the scope's last target, else local.</summary>
    public string? Target { get; init; }

    /// <summary>
    /// The target's settings by MSBuild property name (ImmutableLocalPort, ImmutableDockerHosts, ...). Empty values
    /// count as not given. A setting not given is taken from the scope's last rollout on the same target.
    /// </summary>
    public IReadOnlyDictionary<string, string> TargetSettings { get; init; } = new Dictionary<string, string>();

    /// <summary>The state directory; null: IMMUTABLE_STATE_DIR, then the XDG state folder.</summary>
    public string? StateDirectory { get; init; }

    /// <summary>
    /// Where the lock, journal and ledger live: null, the state directory's files; <c>s3://bucket/prefix</c> or
    /// <c>docker://</c> for a store every runner shares (see <see cref="StateStores"/>). Null here still lets
    /// IMMUTABLE_STATE_URL name one.
    /// </summary>
    public string? StateUrl { get; init; }

    /// <summary>How a shared store leases its lock and polls; null: its defaults (a one-minute lease).</summary>
    public State.ConditionalStateOptions? SharedState { get; init; }

    /// <summary>Shared state stores; null: those found beside Core (<see cref="StateStores.Discovered"/>).</summary>
    public IReadOnlyList<State.IStateStoreProvider>? StateStoreProviders { get; init; }

    /// <summary>How long to wait for another rollout's deploy lock; null: two minutes.</summary>
    public TimeSpan? LockTimeout { get; init; }

    /// <summary>The local host's assembly; null: the one shipped beside Core (it also serves as the Docker target's proxy).</summary>
    public string? HostAssembly { get; init; }

    /// <summary>The strategy; null: blue-green with one instance, and for a rollback the replica count of what runs now.</summary>
    public RolloutOptions? Rollout { get; init; }

    /// <summary>The HTTP health gate's path; null: the scope's last successful rollout's, else /healthz.</summary>
    public string? HealthPath { get; init; }

    /// <summary>How long an instance may take to become healthy; null: the scope's last successful rollout's, else 60s.</summary>
    public TimeSpan? HealthTimeout { get; init; }

    /// <summary>Whether the instance's /version must name the release; null: the scope's last successful rollout's, else auto.</summary>
    public ReleaseIdentityCheck? CheckReleaseIdentity { get; init; }

    /// <summary>The Prometheus analysis gate; null: the scope's last successful rollout's, if it had one.</summary>
    public PrometheusGateOptions? Prometheus { get; init; }

    /// <summary>True: no Prometheus gate, even when the scope remembers one (ImmutablePrometheusUrl=none).</summary>
    public bool NoPrometheus { get; init; }

    /// <summary>Previous releases kept on the target.</summary>
    public int Retain { get; init; } = 2;

    /// <summary>Also delete pruned releases' manifests from their registry.</summary>
    public bool PruneRegistry { get; init; }

    /// <summary>Environment variables for every instance.</summary>
    public IReadOnlyDictionary<string, string> InstanceEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Environment lookup (state dir, GITHUB_STEP_SUMMARY, credentials); null = the process's.</summary>
    public Func<string, string?>? GetEnvironmentVariable { get; init; }

    /// <summary>Targets beyond the built-in local one; null: those found beside Core (<see cref="TargetProviders.Discovered"/>).</summary>
    public IReadOnlyList<IDeploymentTargetProvider>? TargetProviders { get; init; }

    /// <summary>The clock of the engine and the target.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}
