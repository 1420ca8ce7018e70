namespace Immutable.Build.Rollout;

/// <summary>The IMB60xx codes of rollouts, each with its cause and fix.</summary>
public static class RolloutErrors
{
    /// <summary>Unknown strategy name.</summary>
    [ErrorCode(
        "ImmutableStrategy names no known strategy.",
        "Use bluegreen, canary or rolling.")]
    public const string UnknownStrategy = "IMB6001";

    /// <summary>Invalid canary weights.</summary>
    [ErrorCode(
        "ImmutableCanarySteps is not a ';'-separated list of increasing percentages ending at 100 (e.g. 10;50;100).",
        "Correct the list.")]
    public const string InvalidCanarySteps = "IMB6002";

    /// <summary>Invalid number or duration.</summary>
    [ErrorCode(
        "A rollout number or duration property (ImmutableReplicas, ImmutableBatchSize, ImmutableMaxSurge, ImmutableKeepOldFor, ImmutableCanaryPause, ImmutableAnalysisWindow, ...) is not a valid value.",
        "Give a positive whole number, or a duration such as 30s, 5m, 500ms or 00:01:00.")]
    public const string InvalidValue = "IMB6003";

    /// <summary>The rollout was rolled back.</summary>
    [ErrorCode(
        "A health gate or analysis failed, or the target failed, during a rollout; traffic was routed back to the previous release and the new instances were decommissioned.",
        "Read the gate results in the rollout report, fix the release, and publish again.")]
    public const string RolledBack = "IMB6005";

    /// <summary>The rollout failed and could not be rolled back.</summary>
    [ErrorCode(
        "A rollout failed and rolling it back failed too, so the target may run a mix of releases.",
        "Run `immutable status --repair` (or deploy again) once the target is reachable: the next engine call converges it.")]
    public const string Failed = "IMB6006";

    /// <summary>No release in the ledger to roll back to.</summary>
    [ErrorCode(
        "The release to roll back to is not in the release ledger as a successful rollout of this app and environment, or there is no earlier successful release.",
        "Run `immutable history` and pick a release id that succeeded.")]
    public const string NoRollbackRelease = "IMB6007";


    /// <summary>Gate misconfigured.</summary>
    [ErrorCode(
        "A rollout gate is configured wrongly (a Prometheus condition that is not `<op> <number>`, a relative Prometheus address, an empty query, a health path without a leading '/').",
        "Correct the gate setting named in the message.")]
    public const string InvalidGate = "IMB6009";

    /// <summary>Prometheus query failed.</summary>
    [ErrorCode(
        "Prometheus rejected the analysis query or answered something that is not a query result.",
        "Check the PromQL in ImmutablePrometheusQuery against the Prometheus UI and that the address points at Prometheus.")]
    public const string PrometheusQuery = "IMB6010";

    /// <summary>Warning: the app has no /version, so the release-identity gate (auto) checked nothing.</summary>
    [ErrorCode(
        "The release-identity gate is `auto` (ImmutableCheckReleaseIdentity unset) and every instance answered its /version with 404, so which release the instances run was not checked.",
        "Serve {\"releaseId\": \"<IMMUTABLE_RELEASE_ID>\"} at /version to have it checked (ImmutableCheckReleaseIdentity=true requires it), or set ImmutableCheckReleaseIdentity=false to say it is not wanted.",
        Warning = true)]
    public const string IdentityNotChecked = "IMB6020";

    internal static ImmutableBuildException Value(string property, string? value, string expected) =>
        new(InvalidValue, $"{property}='{value}' is not valid: expected {expected}.");

    internal static ImmutableBuildException State(string path, Exception inner) =>
        new(Immutable.Build.State.StateErrors.StateDirectoryUnusable, $"The rollout state at {path} cannot be used: {inner.Message} Check ImmutableStateDir / IMMUTABLE_STATE_DIR and its permissions.", inner);
}
