using Assembly = System.Reflection.Assembly;
using ArchUnitNET.Domain;

namespace Immutable.Build.Architecture.Tests;

/// <summary>The allowed dependency graph of src/, as data.</summary>
internal static class Layers
{
    /// <summary>
    /// Core's folders, lowest first: a folder may use only folders before it. The port (Targets) sits below the
    /// engine that drives it; the local target sits above both; Deployments, the facade the adapters call, is last.
    /// </summary>
    public static readonly string[] Core =
    [
        "Immutable.Build",
        "Immutable.Build.Images",
        "Immutable.Build.Versioning",
        "Immutable.Build.Registry",
        "Immutable.Build.Releases",
        "Immutable.Build.Targets",
        "Immutable.Build.State",
        "Immutable.Build.Rollout",
        "Immutable.Build.Targets.Local",
        "Immutable.Build.Deployments",
    ];

    /// <summary>What a target assembly may use of Core: its public types below the engine (never Rollout or Deployments).</summary>
    private static readonly Dictionary<string, string[]> TargetAssemblies = new(StringComparer.Ordinal)
    {
        ["Docker"] = ["Immutable.Build", "Immutable.Build.Images", "Immutable.Build.Versioning", "Immutable.Build.Registry", "Immutable.Build.Releases", "Immutable.Build.Targets", "Immutable.Build.State", "Immutable.Build.Targets.Local"],
        ["Aws"] = ["Immutable.Build", "Immutable.Build.Images", "Immutable.Build.Versioning", "Immutable.Build.Registry", "Immutable.Build.Releases", "Immutable.Build.Targets", "Immutable.Build.State"],
    };

    /// <summary>The assemblies whose dependencies are checked.</summary>
    public static IReadOnlyList<Assembly> ProductAssemblies() =>
    [
        typeof(ImmutableBuildException).Assembly,
        Assembly.Load("Immutable.Build.Docker"),
        Assembly.Load("Immutable.Build.Aws"),
    ];

    /// <summary>True for a Core type named after a deployment target (they live in the targets' own assemblies).</summary>
    public static bool NamesATarget(string fullName)
    {
        var name = fullName[(fullName.LastIndexOf('.') + 1)..];
        return (name.StartsWith("Docker", StringComparison.Ordinal) && (name.Contains("Settings", StringComparison.Ordinal) || name.Contains("Target", StringComparison.Ordinal)))
            || name.StartsWith("Ec2", StringComparison.Ordinal) || name.StartsWith("Aws", StringComparison.Ordinal);
    }

    /// <summary>Every type-to-type dependency that breaks a rule, one line each, sorted.</summary>
    public static List<string> Violations(ArchUnitNET.Domain.Architecture architecture)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in architecture.Types)
        {
            foreach (var dependency in type.Dependencies)
            {
                var target = dependency.Target;
                if (!target.FullName.StartsWith("Immutable.Build", StringComparison.Ordinal) || target.Assembly.Name == type.Assembly.Name && Folder(target) == Folder(type))
                {
                    continue;
                }

                var why = Judge(Folder(type), Folder(target), AssemblyName(type), AssemblyName(target), target.Visibility == Visibility.Public);
                if (why is not null)
                {
                    found.Add($"{Folder(type)} -> {Folder(target)}: {Outer(type.FullName)} uses {Outer(target.FullName)} ({why})");
                }
            }
        }

        return found.ToList();
    }

    /// <summary>The folder-to-folder graph ("from -> to", one line each, with how many type dependencies), for reports.</summary>
    public static List<string> Graph(ArchUnitNET.Domain.Architecture architecture) =>
        architecture.Types
            .SelectMany(t => t.Dependencies.Select(d => (From: $"{AssemblyName(t)}:{Folder(t)}", To: $"{AssemblyName(d.Target)}:{Folder(d.Target)}", d.Target)))
            .Where(e => e.Target.FullName.StartsWith("Immutable.Build", StringComparison.Ordinal) && e.From != e.To)
            .GroupBy(e => $"{e.From} -> {e.To}")
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Key} ({g.Count()})")
            .ToList();

    /// <summary>Null when a type in <paramref name="from"/> may use one in <paramref name="to"/>; else the rule it breaks.</summary>
    public static string? Judge(string from, string to, string fromAssembly, string toAssembly, bool isPublic)
    {
        if (fromAssembly == "Core" && toAssembly == "Core")
        {
            var a = Array.IndexOf(Core, from);
            var b = Array.IndexOf(Core, to);
            if (a < 0 || b < 0)
            {
                return $"{(a < 0 ? from : to)} is not a folder of the layering; add it to Layers.Core in its place";
            }

            return b < a ? null : "a folder may use only folders before it";
        }

        if (toAssembly == "Core" && TargetAssemblies.TryGetValue(fromAssembly, out var allowed))
        {
            return !allowed.Contains(to) ? "a target uses only Core's kernel, images, registry, releases and the target port"
                : !isPublic ? "a target uses only Core's public types"
                : null;
        }

        if (fromAssembly == "Core")
        {
            return "Core uses no adapter or target assembly";
        }

        return toAssembly == fromAssembly || toAssembly == "Core" ? null : "a target uses no other target or adapter";
    }

    private static string AssemblyName(IType type) =>
        type.Assembly.Name.Split(',')[0] is var n && n == "Immutable.Build.Core" ? "Core" : n.Replace("Immutable.Build.", "", StringComparison.Ordinal);

    private static string Folder(IType type) => type.Namespace.FullName;

    // Compiler-made nested types (closures, state machines) are reported as the type that wrote them.
    private static string Outer(string fullName) => fullName.Split('+')[0];
}
