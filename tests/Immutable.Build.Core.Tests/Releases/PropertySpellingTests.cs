using System.Text.RegularExpressions;
using Immutable.Build.Deployments;
using Immutable.Build.Releases;

namespace Immutable.Build.Core.Tests.Releases;

/// <summary>A misspelt Immutable* property is reported with the known name it most likely meant.</summary>
public sealed partial class PropertySpellingTests
{
    private static readonly IReadOnlyList<string> Known = PackageProperties.Known(TargetProviders.All());

    [Theory]
    [InlineData("ImmutableStratgy", "ImmutableStrategy")]
    [InlineData("ImmutableTargt", "ImmutableTarget")]
    [InlineData("ImmutableHealtPath", "ImmutableHealthPath")]
    [InlineData("ImmutableStartegy", "ImmutableStrategy")]
    [InlineData("immutablelocalprot", "ImmutableLocalPort")]
    [InlineData("ImmutableReplica", "ImmutableReplicas")]
    public void A_typo_suggests_the_known_name(string typed, string meant)
    {
        var unknown = Assert.Single(PropertySpelling.FindUnknown([typed], Known, PackageProperties.Prefix));
        Assert.Equal(new UnknownProperty(typed, meant), unknown);
    }

    [Fact]
    public void A_name_far_from_every_known_one_is_reported_without_a_suggestion()
    {
        var unknown = Assert.Single(PropertySpelling.FindUnknown(["ImmutableWidgetColour"], Known, PackageProperties.Prefix));
        Assert.Null(unknown.Suggestion);
    }

    [Fact]
    public void Known_names_in_any_case_other_prefixes_and_the_bare_prefix_are_not_reported()
    {
        Assert.Empty(PropertySpelling.FindUnknown(
            ["ImmutableStrategy", "immutablestrategy", "IMMUTABLETARGET", "ImmutableLocalPort", "ImmutableDockerHosts", "ContainerImageTag", "Immutable", "_ImmutableEngine", "Configuration"],
            Known,
            PackageProperties.Prefix));
    }

    [Fact]
    public void Each_unknown_name_is_reported_once()
    {
        var unknown = PropertySpelling.FindUnknown(["ImmutableTargt", "immutabletargt", "ImmutableStratgy"], Known, PackageProperties.Prefix);
        Assert.Equal(["ImmutableTargt", "ImmutableStratgy"], unknown.Select(u => u.Name));
    }

    [Theory]
    [InlineData("abc", "abc", 0)]
    [InlineData("abc", "ABC", 0)]
    [InlineData("abc", "acb", 1)]
    [InlineData("abc", "ab", 1)]
    [InlineData("abc", "abxc", 1)]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("", "abc", 3)]
    public void Distance_counts_insertions_deletions_substitutions_and_swaps(string a, string b, int expected)
    {
        Assert.Equal(expected, PropertySpelling.Distance(a, b));
        Assert.Equal(expected, PropertySpelling.Distance(b, a));
    }

    [Fact]
    public void Every_name_the_package_build_files_use_is_known()
    {
        // A property added to the targets but not to the list would be reported as a misspelling of itself.
        var folder = Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.Tasks", "build");
        var text = string.Concat(Directory.EnumerateFiles(folder).Select(File.ReadAllText));
        var targets = TargetName().Matches(text).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        var used = Name().Matches(text).Select(m => m.Value).Where(n => !targets.Contains(n)).Distinct().Order();
        var missing = used.Where(n => !Known.Contains(n, StringComparer.OrdinalIgnoreCase)).ToList();
        Assert.True(missing.Count == 0, "not in PackageProperties.Names: " + string.Join(", ", missing));
    }

    [GeneratedRegex("(?<![A-Za-z_.])Immutable[A-Z][A-Za-z0-9]*")]
    private static partial Regex Name();

    [GeneratedRegex("<Target Name=\"(Immutable[A-Za-z0-9]*)\"")]
    private static partial Regex TargetName();
}
