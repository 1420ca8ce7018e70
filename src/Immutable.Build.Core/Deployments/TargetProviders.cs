using Immutable.Build.Targets;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Deployments;

/// <summary>
/// The targets an adapter offers: the built-in local one, and every provider a
/// <see cref="DeploymentTargetProviderAttribute"/> names in the Immutable.Build.*.dll files beside Core. Shipping
/// a target's assembly with an adapter is all it takes; no adapter names a target.
/// </summary>
public static class TargetProviders
{
    private static readonly Lazy<IReadOnlyList<IDeploymentTargetProvider>> Found = new(Discover);

    /// <summary>The embedded default target.</summary>
    public static IDeploymentTargetProvider Local { get; } = new LocalTargetProvider();

    /// <summary>The providers found beside Core, by name (local not among them).</summary>
    public static IReadOnlyList<IDeploymentTargetProvider> Discovered => Found.Value;

    /// <summary>Local first, then <paramref name="extra"/> (null: <see cref="Discovered"/>).</summary>
    public static IReadOnlyList<IDeploymentTargetProvider> All(IReadOnlyList<IDeploymentTargetProvider>? extra = null) =>
        [Local, .. (extra ?? Discovered).Where(p => !string.Equals(p.Name, Local.Name, StringComparison.OrdinalIgnoreCase))];

    /// <summary>The provider of a target name (IMB6105 when none answers to it).</summary>
    public static IDeploymentTargetProvider Find(string name, IReadOnlyList<IDeploymentTargetProvider>? extra = null)
    {
        var all = All(extra);
        return all.FirstOrDefault(p => string.Equals(p.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
            ?? throw new ImmutableBuildException(DeploymentErrors.UnknownTarget, $"ImmutableTarget='{name}' is not a target here; use {string.Join(", ", all.Select(p => p.Name))}.");
    }

    private static IReadOnlyList<IDeploymentTargetProvider> Discover()
    {
        var providers = new List<IDeploymentTargetProvider>();
        foreach (var type in ProviderAssemblies.Named<DeploymentTargetProviderAttribute>(a => a.ProviderType))
        {
            if (typeof(IDeploymentTargetProvider).IsAssignableFrom(type)
                && Activator.CreateInstance(type) is IDeploymentTargetProvider provider
                && !providers.Any(p => string.Equals(p.Name, provider.Name, StringComparison.OrdinalIgnoreCase)))
            {
                providers.Add(provider);
            }
        }

        return providers;
    }
}
