using System.Text.RegularExpressions;

namespace Immutable.Build.Architecture.Tests;

/// <summary>Central package management declares only what some project of the repository uses.</summary>
public sealed partial class PackageDeclarationTests
{
    [Fact]
    public void Every_declared_package_is_referenced_by_a_project()
    {
        var root = TestEnvironment.RepoRoot;
        var declared = Declared().Matches(File.ReadAllText(Path.Combine(root, "Directory.Packages.props"))).Select(m => m.Groups[1].Value).ToList();
        var referenced = new[] { "src", "tests" }
            .SelectMany(dir => Directory.EnumerateFiles(Path.Combine(root, dir), "*.*", SearchOption.AllDirectories))
            .Where(f => f.EndsWith(".csproj", StringComparison.Ordinal) || f.EndsWith(".props", StringComparison.Ordinal) || f.EndsWith(".targets", StringComparison.Ordinal))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal) && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => Referenced().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value))
            .ToHashSet(StringComparer.OrdinalIgnoreCase);

        Assert.NotEmpty(declared);
        var unused = declared.Where(p => !referenced.Contains(p)).ToList();
        Assert.True(unused.Count == 0, "Declared in Directory.Packages.props but used by no project: " + string.Join(", ", unused));
    }

    [GeneratedRegex("<PackageVersion\\s+Include=\"([^\"]+)\"")]
    private static partial Regex Declared();

    [GeneratedRegex("<PackageReference\\s+Include=\"([^\"]+)\"")]
    private static partial Regex Referenced();
}
