using Immutable.Build.Targets.Local;
using System.Globalization;
using Immutable.Build.Releases;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;

namespace Immutable.Build.Deployments;

/// <summary>
/// The one entry point the adapters call to roll out, roll back, prune and inspect: it turns
/// <see cref="DeploymentSettings"/> into a target, gates and an engine.
/// </summary>
public static class Deployer
{
    /// <summary>The environment name when none is given.</summary>
    public const string DefaultEnvironment = "default";

    /// <summary>True when the settings name a target to deploy to.</summary>
    public static bool HasTarget(DeploymentSettings settings) => !string.IsNullOrWhiteSpace(settings?.Target) && !string.Equals(settings.Target.Trim(), "none", StringComparison.OrdinalIgnoreCase);

    /// <summary>The scope of the settings.</summary>
    public static DeploymentScope Scope(DeploymentSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new DeploymentScope(settings.App, string.IsNullOrWhiteSpace(settings.Environment) ? DefaultEnvironment : settings.Environment.Trim());
    }

    /// <summary>The release a release.json describes, with where a target fetches its image by digest.</summary>
    public static ReleaseRef ReleaseFrom(ReleaseManifest manifest, string manifestPath)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var image = manifest.Image;
        string source;
        if (image.Registry is not null)
        {
            source = image.Reference;
        }
        else if (image.Outputs.TryGetValue("ociLayout", out var layout))
        {
            source = "oci:" + Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(manifestPath))!, layout));
        }
        else
        {
            throw new ImmutableBuildException("IMB6101", $"The release {manifest.ReleaseId} in {manifestPath} has neither a registry nor an OCI layout to deploy from. Publish with ContainerRegistry set, or without it (the default writes an OCI layout).");
        }

        return new ReleaseRef(manifest.ReleaseId, image.Reference, image.Digest, source, manifest.Source.Commit);
    }

    /// <summary>Rolls a release out (resuming or rolling back an interrupted rollout first), then applies retention.</summary>
    public static async Task<RolloutResult> DeployAsync(DeploymentSettings settings, ReleaseRef release, ReleaseLog log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var (engine, scope) = Create(settings, log);
        var result = await engine.DeployAsync(scope, release, settings.Rollout.ToStrategy(), cancellationToken);
        if (result.Succeeded)
        {
            await PruneRegistryAsync(settings, await engine.PruneAsync(scope, Retain(settings), cancellationToken), log, cancellationToken);
        }

        return result;
    }

    /// <summary>Rolls back to the previous (or the named) successful release, by digest.</summary>
    public static Task<RolloutResult> RollbackAsync(DeploymentSettings settings, string? toReleaseId, ReleaseLog log, CancellationToken cancellationToken)
    {
        var (engine, scope) = Create(settings, log);
        // Without strategy options, the rollback uses the replica count of what runs now.
        var r = settings.Rollout;
        var strategy = r.Strategy is null && r.Replicas is null && r.CanarySteps is null && r.BatchSize is null ? null : r.ToStrategy();
        return engine.RollbackAsync(scope, toReleaseId, strategy, cancellationToken);
    }

    /// <summary>Keeps the current and <c>ImmutableRetain</c> previous releases on the target.</summary>
    public static async Task<PruneResult> PruneAsync(DeploymentSettings settings, ReleaseLog log, CancellationToken cancellationToken)
    {
        var (engine, scope) = Create(settings, log);
        var result = await engine.PruneAsync(scope, Retain(settings), cancellationToken);
        await PruneRegistryAsync(settings, result, log, cancellationToken);
        return result;
    }

    // With ImmutablePruneRegistry, a pruned release's manifest is deleted from its registry too, unless a kept release shares its digest.
    private static async Task PruneRegistryAsync(DeploymentSettings settings, PruneResult pruned, ReleaseLog log, CancellationToken cancellationToken)
    {
        if (!string.Equals(settings.PruneRegistry?.Trim(), "true", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        var kept = pruned.Kept.Select(k => k.ImageDigest).ToHashSet(StringComparer.Ordinal);
        foreach (var release in pruned.Removed.Where(r => !kept.Contains(r.ImageDigest) && !r.ImageSource.StartsWith("oci:", StringComparison.Ordinal)).DistinctBy(r => r.ImageDigest))
        {
            var reference = Images.ImageReference.Parse(release.ImageSource);
            using var client = ReleasePipeline.RegistryClientFor(reference.Registry ?? Images.ImageReference.DockerHub, settings.GetEnvironmentVariable ?? System.Environment.GetEnvironmentVariable, log);
            var deleted = await client.DeleteManifestAsync(reference.Repository, Images.Digest.Parse(release.ImageDigest), cancellationToken);
            log.Info($"{(deleted ? "deleted" : "already gone")}: {client.Registry}/{reference.Repository}@{release.ImageDigest} (release {release.ReleaseId}) from the registry");
        }
    }

    /// <summary>What runs, per group, with drift; repairs an interrupted rollout when asked.</summary>
    public static Task<RolloutStatus> StatusAsync(DeploymentSettings settings, bool repair, ReleaseLog log, CancellationToken cancellationToken)
    {
        var (engine, scope) = Create(settings, log);
        return engine.StatusAsync(scope, repair, cancellationToken);
    }

    /// <summary>The release ledger of the scope.</summary>
    public static Task<IReadOnlyList<LedgerEntry>> HistoryAsync(DeploymentSettings settings, CancellationToken cancellationToken)
    {
        var (engine, scope) = Create(settings, ReleaseLog.None);
        return engine.HistoryAsync(scope, cancellationToken);
    }

    /// <summary>The state directory of the settings.</summary>
    public static string StateDirectory(DeploymentSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return string.IsNullOrWhiteSpace(settings.StateDirectory)
            ? LocalTargetOptions.DefaultStateDirectory(settings.GetEnvironmentVariable)
            : Path.GetFullPath(settings.StateDirectory);
    }

    private static int Retain(DeploymentSettings settings) =>
        string.IsNullOrWhiteSpace(settings.Retain) ? 2
        : int.TryParse(settings.Retain, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
        : throw new ImmutableBuildException("IMB6102", $"ImmutableRetain='{settings.Retain}' is not a whole number; give how many previous releases to keep, e.g. 2.");

    private static (RolloutEngine Engine, DeploymentScope Scope) Create(DeploymentSettings settings, ReleaseLog log)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var state = StateDirectory(settings);
        var target = CreateTarget(settings, state, log);
        var health = new List<IRolloutGate>
        {
            new HttpGate(new HttpGateOptions { Path = string.IsNullOrWhiteSpace(settings.HealthPath) ? "/healthz" : settings.HealthPath, Timeout = RolloutSettings.ParseDuration("ImmutableHealthTimeout", settings.HealthTimeout, TimeSpan.FromSeconds(60)) }),
        };
        if (!string.Equals(settings.CheckReleaseIdentity?.Trim(), "false", StringComparison.OrdinalIgnoreCase))
        {
            health.Add(new ReleaseIdentityGate());
        }

        var analysis = new List<IRolloutGate>();
        if (!string.IsNullOrWhiteSpace(settings.PrometheusUrl))
        {
            if (!Uri.TryCreate(settings.PrometheusUrl, UriKind.Absolute, out var server) || string.IsNullOrWhiteSpace(settings.PrometheusQuery) || string.IsNullOrWhiteSpace(settings.PrometheusCondition))
            {
                throw new ImmutableBuildException("IMB6103", "The Prometheus gate needs ImmutablePrometheusUrl (an absolute http URL), ImmutablePrometheusQuery (PromQL) and ImmutablePrometheusCondition (e.g. '< 0.01').");
            }

            analysis.Add(new PrometheusGate(new PrometheusGateOptions { Server = server, Query = settings.PrometheusQuery, Condition = settings.PrometheusCondition }));
        }

        var engine = new RolloutEngine(target, new RolloutEngineOptions
        {
            StateDirectory = state,
            HealthGates = health,
            AnalysisGates = analysis,
            InstanceEnvironment = settings.InstanceEnvironment,
            Log = log,
            GetEnvironmentVariable = settings.GetEnvironmentVariable ?? System.Environment.GetEnvironmentVariable,
        });
        return (engine, Scope(settings));
    }

    private static IDeploymentTarget CreateTarget(DeploymentSettings settings, string state, ReleaseLog log)
    {
        switch ((settings.Target ?? "local").Trim().ToLowerInvariant())
        {
            case "local" or "":
                var port = string.IsNullOrWhiteSpace(settings.LocalPort) ? LocalTargetOptions.DefaultProxyPort
                    : int.TryParse(settings.LocalPort, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536 ? p
                    : throw new ImmutableBuildException("IMB6104", $"ImmutableLocalPort='{settings.LocalPort}' is not a TCP port; give a number from 1 to 65535.");
                return new LocalTarget(new LocalTargetOptions(state, HostAssembly(settings), port) { Log = log.Detail });
            case var name:
                var provider = settings.TargetProviders.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
                return provider is not null
                    ? provider.Create(settings, state, log)
                    : throw new ImmutableBuildException("IMB6105", $"ImmutableTarget='{settings.Target}' is not a target here; use {string.Join(", ", new[] { "local" }.Concat(settings.TargetProviders.Select(p => p.Name)))}.");
        }
    }

    /// <summary>The local host's assembly of the settings, or the one shipped beside Core (it also serves as the Docker target's proxy).</summary>
    public static string HostAssembly(DeploymentSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.LocalHostAssembly is { Length: > 0 } h ? h : DefaultHostAssembly();
    }

    // Next to this assembly in the tool and in the package's tasks folder: localhost/Immutable.Build.LocalHost.dll.
    private static string DefaultHostAssembly() =>
        Path.Combine(AppContext.BaseDirectory, "localhost", "Immutable.Build.LocalHost.dll") is var beside && File.Exists(beside)
            ? beside
            : Path.Combine(Path.GetDirectoryName(typeof(Deployer).Assembly.Location)!, "localhost", "Immutable.Build.LocalHost.dll");
}
