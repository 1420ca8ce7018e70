namespace Immutable.Build.Targets;

/// <summary>
/// The port every deployment target implements (local processes, Docker hosts, EC2). A target never
/// updates an instance in place: it launches new instance groups, routes traffic between groups and
/// decommissions old groups. Every resource it creates carries app, environment, release id and
/// group, so that <see cref="ObserveAsync"/> (the target itself) is the source of truth for what runs.
/// </summary>
public interface IDeploymentTarget
{
    /// <summary>A short name for messages: local, docker, ec2.</summary>
    string Name { get; }

    /// <summary>What runs for the app and environment now: every instance and the current traffic weights.</summary>
    Task<TargetState> ObserveAsync(DeploymentScope scope, CancellationToken cancellationToken);

    /// <summary>Launches a new group of <see cref="LaunchRequest.Replicas"/> instances of a release. Returns the instances as launched (not yet known healthy).</summary>
    Task<IReadOnlyList<InstanceInfo>> LaunchAsync(LaunchRequest request, CancellationToken cancellationToken);

    /// <summary>Sets the share of traffic per group (weights sum to 100); groups not named get none.</summary>
    Task RouteAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weightsByGroup, CancellationToken cancellationToken);

    /// <summary>Stops taking traffic to a group, waits up to <paramref name="drain"/>, then stops and removes its instances.</summary>
    Task DecommissionAsync(DeploymentScope scope, string group, TimeSpan drain, CancellationToken cancellationToken);

    /// <summary>
    /// Checks what a rollout needs from the target that can be known before anything runs (a free port, say), so a
    /// setting that cannot work fails with its own code before the journal, the ledger or an instance is touched.
    /// </summary>
    Task PrepareAsync(DeploymentScope scope, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Whether the machine running the rollout can reach instance addresses, so the HTTP health and release-identity
    /// gates can run against them. A cloud target whose instances sit in a private network says no: its own health
    /// (instance status, the load balancer's target health) then stands for those gates.
    /// </summary>
    bool InstancesReachable => true;

    /// <summary>Lines for the user after a successful rollout: where the release answers, where its logs are.</summary>
    Task<IReadOnlyList<string>> DescribeAsync(DeploymentScope scope, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<string>>([]);

    /// <summary>Removes what the target keeps for releases other than <paramref name="keepImageDigests"/> (unpacked files, pulled images).</summary>
    Task PruneAsync(DeploymentScope scope, IReadOnlyCollection<string> keepImageDigests, CancellationToken cancellationToken);
}

/// <summary>An app in an environment: the unit of rollouts, locks and ledgers.</summary>
public sealed record DeploymentScope(string App, string Environment)
{
    /// <summary>A file-name-safe key, e.g. <c>hello-immutable.production</c>.</summary>
    public string Key => $"{Safe(App)}.{Safe(Environment)}";

    private static string Safe(string s) => new(s.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? char.ToLowerInvariant(c) : '-').ToArray());
}

/// <summary>The release to launch: its id and image, by digest.</summary>
/// <param name="ReleaseId">The release id (release.json's releaseId).</param>
/// <param name="ImageReference">repository@sha256:... (registry or on-disk name).</param>
/// <param name="ImageDigest">The manifest digest.</param>
/// <param name="ImageSource">Where the target gets the image: a registry reference (registry/repo@digest) or an OCI layout folder (oci:/path).</param>
/// <param name="Commit">The source commit, for the release identity the instance reports.</param>
public sealed record ReleaseRef(string ReleaseId, string ImageReference, string ImageDigest, string ImageSource, string? Commit);

/// <summary>What to launch.</summary>
public sealed record LaunchRequest(DeploymentScope Scope, ReleaseRef Release, string Group, int Replicas, IReadOnlyDictionary<string, string> Environment);

/// <summary>One running (or failed) instance.</summary>
/// <param name="Id">The target's id (process id, container id, instance id).</param>
/// <param name="Scope">App and environment.</param>
/// <param name="ReleaseId">The release it runs.</param>
/// <param name="ImageDigest">The digest it runs.</param>
/// <param name="Group">Its group (blue, green, canary, or a generated name).</param>
/// <param name="Address">Base URL, e.g. http://127.0.0.1:5123.</param>
/// <param name="Status">running, starting, exited, ...</param>
/// <param name="ManagedByRollout">False for an instance of the app that no rollout created (drift).</param>
public sealed record InstanceInfo(string Id, DeploymentScope Scope, string ReleaseId, string ImageDigest, string Group, Uri Address, string Status, bool ManagedByRollout = true)
{
    /// <summary>What the target knows of an instance that ended (exit code, log, the log's last lines), for the failure message.</summary>
    public string? Detail { get; init; }
}

/// <summary>What a target observes.</summary>
public sealed record TargetState(IReadOnlyList<InstanceInfo> Instances, IReadOnlyDictionary<string, int> WeightsByGroup, Uri? Entrypoint)
{
    /// <summary>Hosts the target could not reach, each with the reason: what they run is missing from <see cref="Instances"/>.</summary>
    public IReadOnlyList<string> Unreachable { get; init; } = [];
}
