using Immutable.Build.Targets;

namespace Immutable.Build.Deployments;

/// <summary>
/// Every property (and item) the package's props and targets read or set, so that a name under <see cref="Prefix"/>
/// outside this list can be reported as unknown. A target's own settings come from its provider, not from here.
/// A test checks this list against the names the package's build files use.
/// </summary>
public static class PackageProperties
{
    /// <summary>The prefix of the package's properties.</summary>
    public const string Prefix = "Immutable";

    /// <summary>The package's own names: settings of the release and the rollout, and what the targets output.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        // the release
        "ImmutableEnabled", "ImmutableEngine", "ImmutableTagPolicy", "ImmutableAllowTagOverwrite", "ImmutableMovingTag",
        "ImmutableMovingTags", "ImmutableSourceRevision", "ImmutableAppName", "ImmutableOutputDir", "ImmutableLayerCacheDir",
        "ImmutableBaseImageLayout", "ImmutableBuildTasksAssembly",

        // the rollout
        "ImmutableTarget", "ImmutableEnvironment", "ImmutableStateDir", "ImmutableStateUrl", "ImmutableStrategy", "ImmutableReplicas",
        "ImmutableCanarySteps", "ImmutableCanaryPause", "ImmutableKeepOldFor", "ImmutableBatchSize", "ImmutableMaxSurge",
        "ImmutableAnalysisWindow", "ImmutableHealthPath", "ImmutableHealthTimeout", "ImmutableCheckReleaseIdentity",
        "ImmutablePrometheusUrl", "ImmutablePrometheusQuery", "ImmutablePrometheusCondition", "ImmutableRetain",
        "ImmutablePruneRegistry", "ImmutableBakeAmi", "ImmutableAmiIds", "ImmutableInstanceEnvironment", "ImmutableTargetSetting", "ImmutableTargetSettingsDependsOn",

        // outputs
        "ImmutableImageDigest", "ImmutableImageReference", "ImmutableReleaseManifest", "ImmutableReleaseId", "ImmutableReleaseTag",
        "ImmutableRolloutOutcome", "ImmutableRolloutReport",
    ];

    /// <summary>The package's names, the settings every given target declares and those of the state stores (null: the ones found beside Core).</summary>
    public static IReadOnlyList<string> Known(IEnumerable<IDeploymentTargetProvider> targets, IEnumerable<State.IStateStoreProvider>? stateStores = null)
    {
        ArgumentNullException.ThrowIfNull(targets);
        return [.. Names, .. targets.SelectMany(t => t.Settings).Select(s => s.Property), .. (stateStores ?? StateStores.Discovered).SelectMany(p => p.Settings).Select(s => s.Property)];
    }
}
