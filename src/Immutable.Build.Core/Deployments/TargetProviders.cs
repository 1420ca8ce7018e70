using System.Reflection;
using System.Runtime.Loader;
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
        var core = typeof(TargetProviders).Assembly;
        var folder = Path.GetDirectoryName(core.Location);
        if (string.IsNullOrEmpty(folder) || !Directory.Exists(folder))
        {
            return [];
        }

        // Core's own load context: in MSBuild that is the task's, so the providers see the same Core types.
        var context = AssemblyLoadContext.GetLoadContext(core) ?? AssemblyLoadContext.Default;
        var providers = new List<IDeploymentTargetProvider>();
        foreach (var file in Directory.EnumerateFiles(folder, "Immutable.Build.*.dll").Order(StringComparer.Ordinal))
        {
            if (string.Equals(Path.GetFileName(file), Path.GetFileName(core.Location), StringComparison.OrdinalIgnoreCase) || Load(context, file) is not { } assembly)
            {
                continue;
            }

            foreach (var attribute in Attributes(assembly))
            {
                if (typeof(IDeploymentTargetProvider).IsAssignableFrom(attribute.ProviderType)
                    && Activator.CreateInstance(attribute.ProviderType) is IDeploymentTargetProvider provider
                    && !providers.Any(p => string.Equals(p.Name, provider.Name, StringComparison.OrdinalIgnoreCase)))
                {
                    providers.Add(provider);
                }
            }
        }

        return providers;
    }

    private static Assembly? Load(AssemblyLoadContext context, string file)
    {
        try
        {
            var name = AssemblyName.GetAssemblyName(file);
            var loaded = context.Assemblies.FirstOrDefault(a => string.Equals(a.GetName().Name, name.Name, StringComparison.OrdinalIgnoreCase));
            if (loaded is not null)
            {
                return loaded;
            }

            try
            {
                return context.LoadFromAssemblyName(name);
            }
            catch (FileNotFoundException)
            {
                return context.LoadFromAssemblyPath(file);
            }
        }
        catch (Exception e) when (e is IOException or BadImageFormatException)
        {
            return null;
        }
    }

    // An assembly beside Core that is no target (a test assembly, an adapter) may reference what is not there.
    private static IEnumerable<DeploymentTargetProviderAttribute> Attributes(Assembly assembly)
    {
        try
        {
            return assembly.GetCustomAttributes<DeploymentTargetProviderAttribute>().ToList();
        }
        catch (Exception e) when (e is IOException or TypeLoadException)
        {
            return [];
        }
    }
}
