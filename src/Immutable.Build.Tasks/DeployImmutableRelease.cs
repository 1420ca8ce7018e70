using Immutable.Build.Deployments;
using Immutable.Build.Rollout;
using Microsoft.Build.Framework;
using MSTask = Microsoft.Build.Utilities.Task;

namespace Immutable.Build.Tasks;

/// <summary>Rolls the release that publish just recorded out to ImmutableTarget: one call to <see cref="Deployer"/>.</summary>
public sealed class DeployImmutableRelease : MSTask, ICancelableTask
{
    private readonly CancellationTokenSource _cancel = new();

    [Required] public string ReleaseManifest { get; set; } = "";
    [Required] public string Target { get; set; } = "";
    public string? Environment { get; set; }
    public string? StateDirectory { get; set; }
    /// <summary>ImmutableStateUrl: s3://bucket/prefix or docker:// for a lock and history every runner shares.</summary>
    public string? StateUrl { get; set; }
    /// <summary>The target's own settings (ImmutableTargetSetting items: Include is the property, Value its value); the target parses them.</summary>
    public ITaskItem[] TargetSettings { get; set; } = [];
    public string? Strategy { get; set; }
    public string? Replicas { get; set; }
    public string? CanarySteps { get; set; }
    public string? CanaryPause { get; set; }
    public string? KeepOldFor { get; set; }
    public string? BatchSize { get; set; }
    public string? MaxSurge { get; set; }
    public string? AnalysisWindow { get; set; }
    public string? HealthPath { get; set; }
    public string? HealthTimeout { get; set; }
    public string? CheckReleaseIdentity { get; set; }
    public string? PrometheusUrl { get; set; }
    public string? PrometheusQuery { get; set; }
    public string? PrometheusCondition { get; set; }
    public string? Retain { get; set; }
    public string? PruneRegistry { get; set; }
    public ITaskItem[] InstanceEnvironment { get; set; } = [];

    [Output] public string RolloutOutcome { get; private set; } = "";
    [Output] public string RolloutReport { get; private set; } = "";

    /// <inheritdoc />
    public void Cancel() => _cancel.Cancel();

    /// <inheritdoc />
    public override bool Execute() =>
        TaskLog.Guard(Log, _cancel.Token, "The rollout was cancelled; the next deploy or `immutable status --repair` converges it.", Deploy);

    private void Deploy()
    {
        var settings = new DeploymentSettings
        {
            Target = Target,
            Environment = Environment,
            StateDirectory = StateDirectory,
            StateUrl = StateUrl,
            TargetSettings = TargetSettings.GroupBy(i => i.ItemSpec, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.Last().GetMetadata("Value"), StringComparer.OrdinalIgnoreCase),
            Rollout = new RolloutSettings { Strategy = Strategy, Replicas = Replicas, CanarySteps = CanarySteps, CanaryPause = CanaryPause, KeepOldFor = KeepOldFor, BatchSize = BatchSize, MaxSurge = MaxSurge, AnalysisWindow = AnalysisWindow },
            HealthPath = HealthPath,
            HealthTimeout = HealthTimeout,
            CheckReleaseIdentity = CheckReleaseIdentity,
            PrometheusUrl = PrometheusUrl,
            PrometheusQuery = PrometheusQuery,
            PrometheusCondition = PrometheusCondition,
            Retain = Retain,
            PruneRegistry = PruneRegistry,
            // An item given twice (a Directory.Build.props and the project) is MSBuild's usual override: the last one wins.
            InstanceEnvironment = InstanceEnvironment.GroupBy(i => i.ItemSpec, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().GetMetadata("Value"), StringComparer.Ordinal),
        };
        var result = Deployer.DeployAsync(settings.ToOptions(), ReleaseManifest, TaskLog.For(Log), _cancel.Token).GetAwaiter().GetResult();
        RolloutOutcome = result.Outcome;
        RolloutReport = Deployer.ReportPath(ReleaseManifest);
        Log.LogMessage(MessageImportance.High, $"rollout of {result.Release.ReleaseId}: {result.Outcome}{(result.Reason is null ? "" : " (" + result.Reason + ")")}; report {RolloutReport}");
        result.ThrowIfNotSucceeded();
    }
}
