using Cake.Core;
using Cake.Core.Annotations;
using Cake.Core.IO;
using Immutable.Build.Deployments;
using Immutable.Build.Rollout;

namespace Immutable.Build.Cake;

/// <summary>
/// Cake aliases for Immutable.Build: bake a release (<c>dotnet publish</c> into an image tagged by its commit and a
/// release.json), roll it out, roll back, read status and prune. They are plain <see cref="ICakeContext"/> extension
/// methods, so a Cake Frosting task calls them the same way: <c>context.ImmutableBake("src/App/App.csproj")</c>.
/// A failure is a <see cref="CakeException"/> whose message starts with its IMB code.
/// </summary>
[CakeAliasCategory("Immutable.Build")]
public static class ImmutableAliases
{
    /// <summary>The version of the Immutable.Build addin that the script loaded.</summary>
    /// <param name="context">The Cake context.</param>
    [CakeMethodAlias]
    public static string ImmutableVersion(this ICakeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return typeof(ImmutableAliases).Assembly.GetName().Version?.ToString() ?? "0.0.0";
    }

    /// <summary>Publishes the project (which references the Immutable.Build package) and returns the release it recorded.</summary>
    /// <example>
    /// <code>
    /// var release = ImmutableBake("./src/App/App.csproj", new ImmutableBakeSettings { Registry = "registry.example.com" });
    /// Information($"{release.Id} {release.Digest}");
    /// </code>
    /// </example>
    /// <param name="context">The Cake context.</param>
    /// <param name="project">The project file (or its folder).</param>
    /// <param name="settings">The publish's properties.</param>
    /// <returns>The release: id, digest, reference, tags, release.json path.</returns>
    [CakeMethodAlias]
    public static ImmutableRelease ImmutableBake(this ICakeContext context, FilePath project, ImmutableBakeSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(project);
        settings ??= new ImmutableBakeSettings();
        var request = new BakeRequest
        {
            Project = project.MakeAbsolute(context.Environment).FullPath,
            Configuration = settings.Configuration,
            Framework = settings.Framework,
            Runtime = settings.Runtime,
            Properties = settings.AllProperties(),
            Environment = new Dictionary<string, string?>(settings.EnvironmentVariables, StringComparer.Ordinal),
        };
        var result = Run(() => Baker.BakeAsync(request, line => context.Log.Write(global::Cake.Core.Diagnostics.Verbosity.Normal, global::Cake.Core.Diagnostics.LogLevel.Information, "{0}", line)));
        context.Log.Write(global::Cake.Core.Diagnostics.Verbosity.Minimal, global::Cake.Core.Diagnostics.LogLevel.Information, "baked release {0} ({1}){2}", result.Id, result.Reference, result.RolloutOutcome is null ? "" : $", rollout {result.RolloutOutcome}");
        return new ImmutableRelease(result.Id, result.App, result.Digest, result.Reference, result.Tags, result.ManifestPath, result.RolloutOutcome);
    }

    /// <summary>Rolls a baked release out (blue-green by default); a failed gate rolls back and fails the task.</summary>
    /// <param name="context">The Cake context.</param>
    /// <param name="release">The release from <see cref="ImmutableBake"/>.</param>
    /// <param name="settings">Target and strategy.</param>
    /// <returns>The rollout's result (outcome, steps, gates, report).</returns>
    [CakeMethodAlias]
    public static RolloutResult ImmutableRollout(this ICakeContext context, ImmutableRelease release, ImmutableRolloutSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(release);
        return ImmutableRollout(context, new FilePath(release.ManifestPath), settings);
    }

    /// <summary>Rolls the release a release.json describes out; a failed gate rolls back and fails the task.</summary>
    /// <param name="context">The Cake context.</param>
    /// <param name="releaseManifest">The release's release.json.</param>
    /// <param name="settings">Target and strategy.</param>
    /// <returns>The rollout's result (outcome, steps, gates, report).</returns>
    [CakeMethodAlias]
    public static RolloutResult ImmutableRollout(this ICakeContext context, FilePath releaseManifest, ImmutableRolloutSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(releaseManifest);
        settings ??= new ImmutableRolloutSettings();
        var path = releaseManifest.MakeAbsolute(context.Environment).FullPath;
        return Run(async () =>
        {
            var result = await Deployer.DeployAsync(settings.ToOptions(), path, Log(context), CancellationToken.None);
            result.ThrowIfNotSucceeded();
            return result;
        });
    }

    /// <summary>Rolls back to the previous (or the named) successful release, by digest.</summary>
    /// <param name="context">The Cake context.</param>
    /// <param name="settings">The app, target and, optionally, the release to return to.</param>
    /// <returns>The rollback's result.</returns>
    [CakeMethodAlias]
    public static RolloutResult ImmutableRollback(this ICakeContext context, ImmutableRollbackSettings settings)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(settings);
        return Run(async () =>
        {
            var result = await Deployer.RollbackAsync(settings.ToOptions(), settings.To, Log(context), CancellationToken.None);
            result.ThrowIfNotSucceeded();
            return result;
        });
    }

    /// <summary>What runs, per group, against what should (drift); with Repair, converges an interrupted rollout first.</summary>
    /// <param name="context">The Cake context.</param>
    /// <param name="settings">The app and target.</param>
    /// <returns>The status: current release, groups, weights, drift.</returns>
    [CakeMethodAlias]
    public static RolloutStatus ImmutableStatus(this ICakeContext context, ImmutableStatusSettings settings)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(settings);
        return Run(() => Deployer.StatusAsync(settings.ToOptions(), settings.Repair, Log(context), CancellationToken.None));
    }

    /// <summary>Removes releases beyond the current and the retained ones from the target (and, with Registry, from their registry).</summary>
    /// <param name="context">The Cake context.</param>
    /// <param name="settings">The app, target and retention.</param>
    /// <returns>What was kept and what was removed.</returns>
    [CakeMethodAlias]
    public static PruneResult ImmutablePrune(this ICakeContext context, ImmutablePruneSettings settings)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(settings);
        return Run(() => Deployer.PruneAsync(settings.ToOptions(), Log(context), CancellationToken.None));
    }

    /// <summary>Bakes a release into an AMI (or adopts the one baked from its digest), and records it in release.json and release.auto.tfvars.json.</summary>
    /// <param name="context">The Cake context.</param>
    /// <param name="releaseManifest">The release.json of the release.</param>
    /// <param name="settings">The EC2 target's settings (ImmutableAws* in TargetSettings).</param>
    /// <returns>The AMI per region and the launch template version.</returns>
    [CakeMethodAlias]
    public static Targets.MachineImageRelease ImmutableBakeAmi(this ICakeContext context, FilePath releaseManifest, ImmutableBakeAmiSettings settings)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(releaseManifest);
        ArgumentNullException.ThrowIfNull(settings);
        return Run(() => Deployer.BakeAsync(settings.ToOptions(), releaseManifest.MakeAbsolute(context.Environment).FullPath, Log(context), CancellationToken.None));
    }

    private static ReleaseLog Log(ICakeContext context) => new(
        line => context.Log.Write(global::Cake.Core.Diagnostics.Verbosity.Normal, global::Cake.Core.Diagnostics.LogLevel.Information, "{0}", line),
        line => context.Log.Write(global::Cake.Core.Diagnostics.Verbosity.Verbose, global::Cake.Core.Diagnostics.LogLevel.Verbose, "{0}", line),
        (code, line) => context.Log.Write(global::Cake.Core.Diagnostics.Verbosity.Minimal, global::Cake.Core.Diagnostics.LogLevel.Warning, "warning {0}: {1}", code, line));

    // Cake aliases are synchronous; the work is async all the way down, so it runs on the pool and is awaited once here.
    private static T Run<T>(Func<Task<T>> work)
    {
        try
        {
            return Task.Run(work).GetAwaiter().GetResult();
        }
        catch (ImmutableBuildException e)
        {
            throw new CakeException($"{e.Code}: {e.Message}", e);
        }
    }
}
