using Immutable.Build.Deployments;
using Immutable.Build.Releases;
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
    public string? LocalPort { get; set; }
    public string? DockerHosts { get; set; }
    public string? DockerTlsCertPath { get; set; }
    public string? DockerHostBatch { get; set; }
    public string? DockerProxyPort { get; set; }
    public string? DockerRestartPolicy { get; set; }
    public string? DockerMemory { get; set; }
    public string? DockerCpus { get; set; }
    public string? DockerStopGrace { get; set; }
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
        var manifest = ReleaseManifestFile.Read(ReleaseManifest);
        var settings = new DeploymentSettings
        {
            Target = Target,
            App = manifest.App,
            Environment = Environment,
            StateDirectory = StateDirectory,
            LocalPort = LocalPort,
            Docker = new DockerDeploymentSettings
            {
                Hosts = DockerHosts,
                TlsCertPath = DockerTlsCertPath,
                HostBatch = DockerHostBatch,
                ProxyPort = DockerProxyPort,
                RestartPolicy = DockerRestartPolicy,
                Memory = DockerMemory,
                Cpus = DockerCpus,
                StopGrace = DockerStopGrace,
            },
            TargetProviders = [new Docker.DockerTargetProvider()],
            Rollout = new RolloutSettings { Strategy = Strategy, Replicas = Replicas, CanarySteps = CanarySteps, CanaryPause = CanaryPause, KeepOldFor = KeepOldFor, BatchSize = BatchSize, MaxSurge = MaxSurge, AnalysisWindow = AnalysisWindow },
            HealthPath = HealthPath,
            HealthTimeout = HealthTimeout,
            CheckReleaseIdentity = CheckReleaseIdentity,
            PrometheusUrl = PrometheusUrl,
            PrometheusQuery = PrometheusQuery,
            PrometheusCondition = PrometheusCondition,
            Retain = Retain,
            PruneRegistry = PruneRegistry,
            InstanceEnvironment = InstanceEnvironment.ToDictionary(i => i.ItemSpec, i => i.GetMetadata("Value"), StringComparer.Ordinal),
        };
        var log = TaskLog.For(Log);
        var result = Deployer.DeployAsync(settings, Deployer.ReleaseFrom(manifest, ReleaseManifest), log, _cancel.Token).GetAwaiter().GetResult();
        RolloutOutcome = result.Outcome;
        RolloutReport = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(ReleaseManifest))!, "rollout.md");
        File.WriteAllText(RolloutReport, result.Report);
        Log.LogMessage(MessageImportance.High, $"rollout of {result.Release.ReleaseId}: {result.Outcome}{(result.Reason is null ? "" : " (" + result.Reason + ")")}; report {RolloutReport}");
        result.ThrowIfNotSucceeded();
    }
}
