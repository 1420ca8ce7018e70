using System.Reflection;
using System.Runtime.Loader;

namespace Immutable.Build.Deployments;

/// <summary>
/// The Immutable.Build.*.dll files beside Core and the provider types their assembly attributes name: how targets
/// and state stores are found without any adapter naming them.
/// </summary>
internal static class ProviderAssemblies
{
    /// <summary>The types that <typeparamref name="TAttribute"/> names (through <paramref name="typeOf"/>) in the assemblies beside Core.</summary>
    public static IReadOnlyList<Type> Named<TAttribute>(Func<TAttribute, Type> typeOf)
        where TAttribute : Attribute
    {
        var core = typeof(ProviderAssemblies).Assembly;
        var folder = Path.GetDirectoryName(core.Location);
        if (string.IsNullOrEmpty(folder) || !Directory.Exists(folder))
        {
            return [];
        }

        // Core's own load context: in MSBuild that is the task's, so the providers see the same Core types.
        var context = AssemblyLoadContext.GetLoadContext(core) ?? AssemblyLoadContext.Default;
        var types = new List<Type>();
        foreach (var file in Directory.EnumerateFiles(folder, "Immutable.Build.*.dll").Order(StringComparer.Ordinal))
        {
            if (string.Equals(Path.GetFileName(file), Path.GetFileName(core.Location), StringComparison.OrdinalIgnoreCase) || Load(context, file) is not { } assembly)
            {
                continue;
            }

            types.AddRange(Attributes<TAttribute>(assembly).Select(typeOf));
        }

        return types;
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

    // An assembly beside Core that provides nothing (a test assembly, an adapter) may reference what is not there.
    private static IEnumerable<TAttribute> Attributes<TAttribute>(Assembly assembly)
        where TAttribute : Attribute
    {
        try
        {
            return assembly.GetCustomAttributes<TAttribute>().ToList();
        }
        catch (Exception e) when (e is IOException or TypeLoadException)
        {
            return [];
        }
    }
}
