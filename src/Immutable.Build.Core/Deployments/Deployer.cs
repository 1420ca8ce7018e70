using Immutable.Build.Releases;
using Immutable.Build.Rollout;
using Immutable.Build.State;
using Immutable.Build.Targets;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Deployments;

/// <summary>
/// The one entry point the adapters call to roll out, roll back, prune and inspect: it turns
/// <see cref="DeploymentOptions"/> into a target, gates and an engine. A rollout records its target in the state
/// directory (<see cref="RememberedTargets"/>), and a successful one its gates; every later call fills in from it what is not given.
/// </summary>
public static class Deployer
{
    /// <summary>The environment name when none is given.</summary>
    public const string DefaultEnvironment = "default";

    /// <summary>The release.json looked for in the working folder when no app is given.</summary>
    public const string ReleaseManifestName = "release.json";

    /// <summary>The rollout report written next to the release.json a rollout was started from.</summary>
    public const string ReportName = "rollout.md";

    /// <summary>True when the settings name a target to deploy to.</summary>
    public static bool HasTarget(DeploymentSettings settings) => !string.IsNullOrWhiteSpace(settings?.Target) && !string.Equals(settings.Target.Trim(), "none", StringComparison.OrdinalIgnoreCase);

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

    /// <summary>Where the rollout report of the release a release.json describes is written: rollout.md beside it.</summary>
    public static string ReportPath(string manifestPath) => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(manifestPath))!, ReportName);

    /// <summary>
    /// Rolls out the release a release.json describes (its app unless <see cref="DeploymentOptions.App"/> is given),
    /// then writes the report to <see cref="ReportPath"/>, whatever the outcome.
    /// </summary>
    public static async Task<RolloutResult> DeployAsync(DeploymentOptions options, string releaseManifest, ReleaseLog log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var manifest = ReleaseManifestFile.Read(releaseManifest);
        var result = await DeployAsync(options with { App = options.App ?? manifest.App }, ReleaseFrom(manifest, releaseManifest), log, cancellationToken);
        AtomicFile.WriteAllText(ReportPath(releaseManifest), result.Report);
        return result;
    }

    /// <summary>Rolls a release out (resuming or rolling back an interrupted rollout first), then applies retention.</summary>
    public static async Task<RolloutResult> DeployAsync(DeploymentOptions options, ReleaseRef release, ReleaseLog log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        // Checked before the rollout: found only after it, a bad value would fail a deploy whose release already serves.
        var retain = Retain(options);
        using var deployment = Open(options, log);
        // Before anything is remembered or stored: a setting that cannot work (a taken port) must not be kept for the next command.
        await deployment.Target.PrepareAsync(deployment.Scope, cancellationToken);
        deployment.Remember(false);
        using var kept = await ReleaseStore.KeepAsync(State(options), deployment.Scope, release, log, options.Time, cancellationToken);
        var result = await deployment.Engine.DeployAsync(deployment.Scope, kept.Release, (options.Rollout ?? new RolloutOptions()).ToStrategy(), cancellationToken);
        if (result.Succeeded)
        {
            deployment.Remember(true);
            var pruned = await deployment.Engine.PruneAsync(deployment.Scope, retain, cancellationToken);
            await ReleaseStore.PruneAsync(State(options), deployment.Scope, pruned, await deployment.Engine.HistoryAsync(deployment.Scope, cancellationToken), log, options.Time, cancellationToken);
            await PruneRegistryAsync(options, pruned, log, cancellationToken);
        }

        return result;
    }

    /// <summary>
    /// Bakes the release a release.json describes into the target's machine image (an AMI on EC2), or adopts the one
    /// already baked from its digest; records the images in release.json (<c>amis</c>) and writes
    /// <see cref="TerraformHandOff.FileName"/> beside it.
    /// </summary>
    public static async Task<MachineImageRelease> BakeAsync(DeploymentOptions options, string releaseManifest, ReleaseLog log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        var manifest = ReleaseManifestFile.Read(releaseManifest);
        using var deployment = Open(options with { App = options.App ?? manifest.App }, log);
        if (deployment.Target is not IMachineImageTarget baker)
        {
            throw new ImmutableBuildException(DeploymentErrors.NoBaker, $"The {deployment.Target.Name} target bakes no machine images: set ImmutableTarget=ec2 (or --target ec2) to bake an AMI, or leave ImmutableBakeAmi unset.");
        }

        var images = await baker.BakeAsync(deployment.Scope, ReleaseFrom(manifest, releaseManifest), cancellationToken);
        ReleaseManifestFile.Write(releaseManifest, manifest with { Amis = new SortedDictionary<string, string>(images.ImagesByRegion.ToDictionary(i => i.Key, i => i.Value), StringComparer.Ordinal) });
        var handOff = TerraformHandOff.Write(releaseManifest, manifest, images);
        log.Info($"release {manifest.ReleaseId}: {string.Join(", ", images.ImagesByRegion.Select(i => $"{i.Value} in {i.Key}"))}; launch template {images.LaunchTemplateName} version {images.LaunchTemplateVersion}; {handOff}");
        return images;
    }

    /// <summary>Rolls back to the previous (or the named) successful release, by digest.</summary>
    public static async Task<RolloutResult> RollbackAsync(DeploymentOptions options, string? toReleaseId, ReleaseLog log, CancellationToken cancellationToken)
    {
        using var deployment = Open(options, log);
        await deployment.Target.PrepareAsync(deployment.Scope, cancellationToken);
        deployment.Remember(false);
        // Without strategy options, the rollback uses the replica count of what runs now.
        var result = await deployment.Engine.RollbackAsync(deployment.Scope, toReleaseId, options.Rollout?.ToStrategy(), cancellationToken);
        if (result.Succeeded)
        {
            deployment.Remember(true);
        }

        return result;
    }

    /// <summary>Keeps the current and <see cref="DeploymentOptions.Retain"/> previous releases on the target.</summary>
    public static async Task<PruneResult> PruneAsync(DeploymentOptions options, ReleaseLog log, CancellationToken cancellationToken)
    {
        using var deployment = Open(options, log);
        var result = await deployment.Engine.PruneAsync(deployment.Scope, Retain(options), cancellationToken);
        await ReleaseStore.PruneAsync(State(options), deployment.Scope, result, await deployment.Engine.HistoryAsync(deployment.Scope, cancellationToken), log, options.Time, cancellationToken);
        await PruneRegistryAsync(options, result, log, cancellationToken);
        return result;
    }

    /// <summary>What runs, per group, with drift; repairs an interrupted rollout when asked.</summary>
    public static async Task<RolloutStatus> StatusAsync(DeploymentOptions options, bool repair, ReleaseLog log, CancellationToken cancellationToken)
    {
        using var deployment = Open(options, log);
        return await deployment.Engine.StatusAsync(deployment.Scope, repair, cancellationToken);
    }

    /// <summary>The release ledger of the scope.</summary>
    public static async Task<IReadOnlyList<LedgerEntry>> HistoryAsync(DeploymentOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var store = OpenState(options, ReleaseLog.None);
        return await new RolloutState(EngineOptions(options, store, ReleaseLog.None)).HistoryAsync(Scope(options), cancellationToken);
    }

    /// <summary>Where the options' lock, journal and ledger live: a file URL of the state directory, or the shared store's URL.</summary>
    public static string StateLocation(DeploymentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var store = OpenState(options, ReleaseLog.None);
        return store.Location;
    }

    /// <summary>Who holds the scope's deploy lock; null when nobody does.</summary>
    public static async Task<LockHolder?> LockStatusAsync(DeploymentOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var store = OpenState(options, ReleaseLog.None);
        return await new RolloutState(EngineOptions(options, store, ReleaseLog.None)).LockStatusAsync(Scope(options), cancellationToken);
    }

    /// <summary>Clears the scope's deploy lock whoever holds it, with an audit line in the ledger; returns the holder cleared, null when it was free.</summary>
    public static async Task<LockHolder?> ForceReleaseLockAsync(DeploymentOptions options, ReleaseLog log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var store = OpenState(options, log);
        return await new RolloutState(EngineOptions(options, store, log)).ForceReleaseLockAsync(Scope(options), cancellationToken);
    }

    /// <summary>`immutable state repair`: replaces the scope's damaged journal and ledger lines with records that keep their text, and writes back the ledger entries the journal proves; returns what it did.</summary>
    public static async Task<IReadOnlyList<string>> RepairStateAsync(DeploymentOptions options, ReleaseLog log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var store = OpenState(options, log);
        return await new RolloutState(EngineOptions(options, store, log)).RepairAsync(Scope(options), cancellationToken);
    }

    /// <summary>
    /// Copies the scope's journal and ledger from the state directory to the store at <paramref name="toUrl"/>, line by
    /// line in order, under both stores' locks; IMB6207 when the destination already has state for the scope. Returns
    /// the numbers of journal and ledger lines copied.
    /// </summary>
    public static async Task<(int Journal, int Ledger)> MigrateStateAsync(DeploymentOptions options, string toUrl, ReleaseLog log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        if (string.IsNullOrWhiteSpace(toUrl))
        {
            throw new ImmutableBuildException(StateErrors.InvalidStateUrl, "`immutable state migrate` needs --to <url>, e.g. s3://bucket/prefix or docker://.");
        }

        var scope = Scope(options);
        using var from = OpenState(options with { StateUrl = "file" }, log);
        using var to = OpenState(options with { StateUrl = toUrl }, log);
        if (string.Equals(from.Location, to.Location, StringComparison.Ordinal))
        {
            throw new ImmutableBuildException(StateErrors.MigrateTargetNotEmpty, $"The state of {scope.App} ({scope.Environment}) is already at {to.Location}; give another --to.");
        }

        var timeout = options.LockTimeout ?? TimeSpan.FromMinutes(2);
        await using var sourceLock = await from.AcquireLockAsync(scope.Key, new LockRequest("state migrate", timeout), cancellationToken);
        await using var destinationLock = await to.AcquireLockAsync(scope.Key, new LockRequest("state migrate", timeout), cancellationToken);
        var journal = await from.ReadAsync(scope.Key, StateLog.Journal, cancellationToken);
        var ledger = await from.ReadAsync(scope.Key, StateLog.Ledger, cancellationToken);
        if ((await to.ReadAsync(scope.Key, StateLog.Journal, cancellationToken)).Count > 0 || (await to.ReadAsync(scope.Key, StateLog.Ledger, cancellationToken)).Count > 0)
        {
            throw new ImmutableBuildException(StateErrors.MigrateTargetNotEmpty, $"{to.Location} already has a journal or ledger for {scope.App} ({scope.Environment}); copying would merge two histories. Migrate into an empty prefix, or remove the scope there first.");
        }

        // Lines are copied as they are: their origins and times stay those of the runs that wrote them.
        foreach (var (lines, kind) in new[] { (journal, StateLog.Journal), (ledger, StateLog.Ledger) })
        {
            for (var i = 0; i < lines.Count; i++)
            {
                await to.AppendAsync(scope.Key, kind, System.Text.Encoding.UTF8.GetBytes(lines[i]), cancellationToken);
                if ((i + 1) % 50 == 0)
                {
                    log.Info($"state migrate: {kind.ToString().ToLowerInvariant()} {i + 1}/{lines.Count}");
                }
            }
        }

        log.Info($"state migrate: copied {journal.Count} journal and {ledger.Count} ledger line(s) of {scope.App} ({scope.Environment}) from {from.Location} to {to.Location}; set ImmutableStateUrl={toUrl} (or IMMUTABLE_STATE_URL) on every runner from now on");
        return (journal.Count, ledger.Count);
    }

    /// <summary>The state directory: the one given, else IMMUTABLE_STATE_DIR, else the XDG state folder.</summary>
    public static string StateDirectory(string? configured, Func<string, string?>? getEnvironmentVariable = null) =>
        string.IsNullOrWhiteSpace(configured)
            ? LocalTargetOptions.DefaultStateDirectory(getEnvironmentVariable)
            : Path.GetFullPath(configured);

    /// <summary>
    /// The scope the options mean. Without an app: the app of release.json in the working folder, else the one app
    /// the state remembers a target for; IMB6106 when there is none or several.
    /// </summary>
    public static DeploymentScope Scope(DeploymentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new DeploymentScope(App(options, StateDirectory(options.StateDirectory, options.GetEnvironmentVariable)), options.Environment);
    }

    /// <summary>The local host's assembly of the options, or the one shipped beside Core (it also serves as the Docker target's proxy).</summary>
    public static string HostAssembly(DeploymentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.HostAssembly is { Length: > 0 } h ? h : DefaultHostAssembly();
    }

    private static string State(DeploymentOptions options) => StateDirectory(options.StateDirectory, options.GetEnvironmentVariable);

    private static int Retain(DeploymentOptions options) => options.Retain >= 0 ? options.Retain
        : throw new ImmutableBuildException("IMB6102", $"ImmutableRetain='{options.Retain}' is not a whole number; give how many previous releases to keep, e.g. 2.");

    private static string App(DeploymentOptions options, string state)
    {
        if (options.App is { Length: > 0 } app)
        {
            return app;
        }

        if (File.Exists(ReleaseManifestName))
        {
            return ReleaseManifestFile.Read(ReleaseManifestName).App;
        }

        var apps = RememberedTargets.All(state).Select(t => t.App).Distinct(StringComparer.Ordinal).ToList();
        return apps.Count == 1 ? apps[0] : throw DeploymentErrors.WhichApp(state, apps);
    }

    // With ImmutablePruneRegistry, a pruned release's manifest is deleted from its registry too, unless a kept release shares its digest.
    private static async Task PruneRegistryAsync(DeploymentOptions options, PruneResult pruned, ReleaseLog log, CancellationToken cancellationToken)
    {
        if (!options.PruneRegistry)
        {
            return;
        }

        var kept = pruned.Kept.Select(k => k.ImageDigest).ToHashSet(StringComparer.Ordinal);
        foreach (var release in pruned.Removed.Where(r => !kept.Contains(r.ImageDigest) && !r.ImageSource.StartsWith("oci:", StringComparison.Ordinal)).DistinctBy(r => r.ImageDigest))
        {
            var reference = Images.ImageReference.Parse(release.ImageSource);
            using var client = ReleasePipeline.RegistryClientFor(reference.Registry ?? Images.ImageReference.DockerHub, options.GetEnvironmentVariable ?? System.Environment.GetEnvironmentVariable, log);
            var deleted = await client.DeleteManifestAsync(reference.Repository, Images.Digest.Parse(release.ImageDigest), cancellationToken);
            log.Info($"{(deleted ? "deleted" : "already gone")}: {client.Registry}/{reference.Repository}@{release.ImageDigest} (release {release.ReleaseId}) from the registry");
        }
    }

    private static Deployment Open(DeploymentOptions options, ReleaseLog log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        var state = StateDirectory(options.StateDirectory, options.GetEnvironmentVariable);
        var scope = new DeploymentScope(App(options, state), options.Environment);
        var remembered = RememberedTargets.Load(state, scope);
        var provider = TargetProviders.Find(options.Target ?? remembered?.Target ?? LocalTargetProvider.TargetName, options.TargetProviders);
        var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (remembered is not null && string.Equals(remembered.Target, provider.Name, StringComparison.OrdinalIgnoreCase))
        {
            foreach (var (name, value) in remembered.Settings)
            {
                settings[name] = value;
            }
        }

        foreach (var (name, value) in options.TargetSettings.Where(s => !string.IsNullOrWhiteSpace(s.Value)))
        {
            settings[name] = value;
        }

        var environment = options.GetEnvironmentVariable ?? System.Environment.GetEnvironmentVariable;
        var target = provider.Create(new TargetContext
        {
            Settings = settings,
            StateDirectory = state,
            HostAssembly = HostAssembly(options),
            GetEnvironmentVariable = environment,
            Log = log,
            Time = options.Time,
        });
        var gates = DeploymentGates.Given(options).Over(DeploymentGates.Remembered(remembered?.Gates));
        var store = OpenState(options, log, settings);
        var engine = new RolloutEngine(target, EngineOptions(options, store, log) with
        {
            HealthGates = target.InstancesReachable ? gates.HealthGates() : [],
            AnalysisGates = gates.AnalysisGates(),
            InstanceEnvironment = options.InstanceEnvironment,
        });
        var secret = provider.Settings.Where(s => s.Secret).Select(s => s.Property).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var declared = provider.Settings.Select(s => s.Property).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var kept = settings.Where(s => declared.Contains(s.Key) && !secret.Contains(s.Key)).ToDictionary(s => s.Key, s => s.Value, StringComparer.OrdinalIgnoreCase);
        // The gates are remembered only once a rollout passed them: a failed one must not teach a rollback its mistake.
        return new Deployment(engine, target, scope, store, succeeded => RememberedTargets.Save(state, new RememberedTarget(scope.App, scope.Environment, provider.Name, kept)
        {
            Gates = succeeded ? gates.ToRemembered() : remembered?.Gates ?? new Dictionary<string, string>(),
        }));
    }

    // Next to this assembly in the tool and in the package's tasks folder: localhost/Immutable.Build.LocalHost.dll.
    private static string DefaultHostAssembly() =>
        Path.Combine(AppContext.BaseDirectory, "localhost", "Immutable.Build.LocalHost.dll") is var beside && File.Exists(beside)
            ? beside
            : Path.Combine(Path.GetDirectoryName(typeof(Deployer).Assembly.Location)!, "localhost", "Immutable.Build.LocalHost.dll");

    private static RolloutEngineOptions EngineOptions(DeploymentOptions options, IStateStore store, ReleaseLog log) => new()
    {
        StateDirectory = State(options),
        StateStore = store,
        Log = log,
        GetEnvironmentVariable = options.GetEnvironmentVariable ?? System.Environment.GetEnvironmentVariable,
        Time = options.Time,
        LockTimeout = options.LockTimeout ?? TimeSpan.FromMinutes(2),
    };

    // The state's settings are the target's as given or remembered (a docker:// store reads ImmutableDockerHosts).
    private static IStateStore OpenState(DeploymentOptions options, ReleaseLog log, IReadOnlyDictionary<string, string>? settings = null)
    {
        var environment = options.GetEnvironmentVariable ?? System.Environment.GetEnvironmentVariable;
        var state = State(options);
        if (settings is null)
        {
            var remembered = RememberedTargets.Load(state, Scope(options));
            var merged = new Dictionary<string, string>(remembered?.Settings ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase);
            foreach (var (name, value) in options.TargetSettings.Where(s => !string.IsNullOrWhiteSpace(s.Value)))
            {
                merged[name] = value;
            }

            settings = merged;
        }

        return StateStores.Open(StateStores.Url(options.StateUrl, environment), state, new StateContext
        {
            Settings = settings,
            GetEnvironmentVariable = environment,
            Log = log,
            Time = options.Time,
            Shared = options.SharedState ?? new ConditionalStateOptions(),
        }, options.StateStoreProviders);
    }

    private sealed record Deployment(RolloutEngine Engine, IDeploymentTarget Target, DeploymentScope Scope, IStateStore Store, Action<bool> Remember) : IDisposable
    {
        public void Dispose()
        {
            Store.Dispose();
        }
    }
}
