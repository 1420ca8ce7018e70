using Assembly = System.Reflection.Assembly;
using ArchUnitNET.Domain;
using ArchUnitNET.Loader;

namespace Immutable.Build.Architecture.Tests;

/// <summary>
/// Core's folders form a stack: each may use only the folders before it in <see cref="Layers.Core"/>, so there is
/// no circle between them; the target assemblies use only Core's lower, public part; Core knows no target.
/// Dependencies are read from the compiled IL (method bodies included), not from using directives.
/// </summary>
public sealed class LayeringTests
{
    private static readonly Lazy<ArchUnitNET.Domain.Architecture> Loaded = new(() => Load(Layers.ProductAssemblies()));

    [Fact]
    public void Core_folders_depend_only_on_folders_before_them()
    {
        var violations = Layers.Violations(Loaded.Value);
        Assert.True(violations.Count == 0, "Forbidden dependencies:\n" + string.Join('\n', violations));
    }

    [Fact]
    public void The_folder_graph_is_written_for_review()
    {
        // Not a rule: the graph the rules allow, written next to the test results for the reviewer.
        var graph = Layers.Graph(Loaded.Value);
        Assert.NotEmpty(graph);
        var folder = Path.Combine(TestEnvironment.RepoRoot, "artifacts", "test-results");
        Directory.CreateDirectory(folder);
        File.WriteAllLines(Path.Combine(folder, "dependency-graph.txt"), graph);
    }

    [Fact]
    public void Core_names_no_target_and_references_no_target_sdk()
    {
        var core = typeof(ImmutableBuildException).Assembly;
        var sdks = core.GetReferencedAssemblies().Select(a => a.Name!)
            .Where(n => n.StartsWith("Docker.DotNet", StringComparison.Ordinal) || n.StartsWith("AWSSDK", StringComparison.Ordinal)
                || n.StartsWith("Microsoft.Build", StringComparison.Ordinal) || n.StartsWith("Cake", StringComparison.Ordinal)
                || n.StartsWith("Immutable.Build.", StringComparison.Ordinal))
            .ToList();
        Assert.True(sdks.Count == 0, "Core references: " + string.Join(", ", sdks));

        var named = core.GetTypes().Select(t => t.FullName!).Where(Layers.NamesATarget).ToList();
        Assert.True(named.Count == 0, "Core types named after a target: " + string.Join(", ", named));
    }

    [Fact]
    public void The_check_catches_a_forbidden_dependency_and_a_circle()
    {
        // The rules, applied to made-up edges, so that a broken rule table cannot pass silently.
        Assert.NotNull(Layers.Judge("Immutable.Build.Images", "Immutable.Build.Registry", "Core", "Core", isPublic: true));
        Assert.NotNull(Layers.Judge("Immutable.Build.Targets", "Immutable.Build.Rollout", "Core", "Core", isPublic: true));
        Assert.NotNull(Layers.Judge("Immutable.Build.Docker", "Immutable.Build.Deployments", "Docker", "Core", isPublic: true));
        Assert.NotNull(Layers.Judge("Immutable.Build.Docker", "Immutable.Build.Targets", "Docker", "Core", isPublic: false));
        Assert.NotNull(Layers.Judge("Immutable.Build", "Immutable.Build.Versioning", "Core", "Core", isPublic: true));
        Assert.Null(Layers.Judge("Immutable.Build.Rollout", "Immutable.Build.Targets", "Core", "Core", isPublic: true));
        Assert.Null(Layers.Judge("Immutable.Build.Docker", "Immutable.Build.Targets", "Docker", "Core", isPublic: true));
    }

    private static ArchUnitNET.Domain.Architecture Load(IReadOnlyList<Assembly> assemblies) =>
        new ArchLoader().LoadAssemblies(assemblies.ToArray()).Build();
}
