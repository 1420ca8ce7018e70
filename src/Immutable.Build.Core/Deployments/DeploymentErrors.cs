namespace Immutable.Build.Deployments;

/// <summary>The IMB61xx codes of deployments: the settings every adapter passes and the app and release it names.</summary>
public static class DeploymentErrors
{
    /// <summary>A release with nothing to deploy from.</summary>
    [ErrorCode(
        "A release.json names neither a registry nor an OCI layout to deploy from.",
        "Publish with ContainerRegistry set, or without it (the default writes an OCI layout).")]
    public const string NoImageSource = "IMB6101";

    /// <summary>ImmutableRetain is not a whole number.</summary>
    [ErrorCode(
        "ImmutableRetain is not a whole number.",
        "Give how many previous releases to keep, e.g. 2.")]
    public const string InvalidRetain = "IMB6102";

    /// <summary>The Prometheus gate lacks a setting.</summary>
    [ErrorCode(
        "The Prometheus gate is missing a setting.",
        "Give ImmutablePrometheusUrl (absolute http URL), ImmutablePrometheusQuery (PromQL) and ImmutablePrometheusCondition (e.g. '< 0.01').")]
    public const string PrometheusIncomplete = "IMB6103";

    /// <summary>ImmutableLocalPort is not a TCP port.</summary>
    [ErrorCode(
        "ImmutableLocalPort is not a TCP port.",
        "Give a number from 1 to 65535.")]
    public const string InvalidLocalPort = "IMB6104";

    /// <summary>ImmutableTarget names no available target.</summary>
    [ErrorCode(
        "ImmutableTarget names a target that is not available.",
        "Use one the message lists (local, and the targets whose assemblies ship beside Core: docker, ec2).")]
    public const string UnknownTarget = "IMB6105";

    /// <summary>No app named and none to be found.</summary>
    [ErrorCode(
        "A command on deployed releases (status, history, deploy, rollback, prune) cannot tell which app is meant: no app was given, there is no release.json here, and the state remembers no app or several (the message lists them).",
        "Name it (the CLI's --app, the App of the Cake settings), or run the CLI where release.json is.")]
    public const string AppNotNamed = "IMB6106";

    /// <summary>The release to deploy is neither a file nor in the ledger.</summary>
    [ErrorCode(
        "The release given to `immutable deploy` is neither a release.json path nor an id or digest in the ledger.",
        "Use a path, or an id or digest from `immutable history`.")]
    public const string ReleaseNotFound = "IMB6107";

    /// <summary>A bake asked of a target without machine images.</summary>
    [ErrorCode(
        "A machine-image bake (`ImmutableBakeAmi=true`, `immutable bake-ami`) was asked of a target that bakes none.",
        "Set ImmutableTarget=ec2 (or --target ec2), or leave ImmutableBakeAmi unset.")]
    public const string NoBaker = "IMB6108";

    /// <summary>The one <see cref="AppNotNamed"/> error, whichever adapter finds no app; <paramref name="remembered"/> are the apps the state at <paramref name="state"/> knows.</summary>
    public static ImmutableBuildException WhichApp(string state, IReadOnlyCollection<string> remembered) =>
        remembered.Count == 0
            ? new(AppNotNamed, "Which app? Give it (--app <name> on the command line, App in the Cake settings: release.json's app), or run where release.json is.")
            : new(AppNotNamed, $"Which app? The state at {state} holds several: {string.Join(", ", remembered)}. Give one (--app <name> on the command line, App in the Cake settings).");
}
