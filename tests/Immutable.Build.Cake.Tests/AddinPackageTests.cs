using System.IO.Compression;
using System.Xml.Linq;

namespace Immutable.Build.Cake.Tests;

/// <summary>The addin package follows Cake's addin conventions.</summary>
public sealed class AddinPackageTests
{
    [Fact]
    public void The_addin_package_carries_everything_in_lib_net10_its_docs_and_no_dependency_on_Cake()
    {
        var nupkg = Path.Combine(TestEnvironment.PackagesDir, $"Immutable.Build.Cake.{TestEnvironment.PackageVersion}.nupkg");
        Assert.True(File.Exists(nupkg), $"{nupkg} is missing: run ./build.sh pack");
        using var zip = ZipFile.OpenRead(nupkg);
        var entries = zip.Entries.Select(e => e.FullName).ToList();

        // Cake loads an addin's assemblies from lib/<tfm>, and resolves no NuGet dependencies unless told to: all of them are there.
        foreach (var file in new[] { "Immutable.Build.Cake.dll", "Immutable.Build.Cake.xml", "Immutable.Build.Core.dll", "Immutable.Build.Docker.dll", "Docker.DotNet.dll", "localhost/Immutable.Build.LocalHost.dll" })
        {
            Assert.Contains($"lib/net10.0/{file}", entries);
        }

        Assert.DoesNotContain(entries, e => e.StartsWith("lib/", StringComparison.Ordinal) && !e.StartsWith("lib/net10.0/", StringComparison.Ordinal));
        Assert.DoesNotContain(entries, e => Path.GetFileName(e).StartsWith("Cake.", StringComparison.OrdinalIgnoreCase));

        // Cake.Core is Cake's own: never a dependency of the addin; and the package declares no dependency at all.
        var nuspecEntry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var stream = nuspecEntry.Open();
        var nuspec = XDocument.Load(stream);
        XNamespace ns = nuspec.Root!.Name.Namespace;
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        Assert.Empty(metadata.Descendants(ns + "dependency"));
        Assert.DoesNotContain("Cake.Core", nuspec.ToString(), StringComparison.Ordinal);
        Assert.Contains("cake-addin", metadata.Element(ns + "tags")!.Value.Split(' '));

        // The aliases are documented for Cake's docs and IntelliSense.
        using var docs = zip.GetEntry("lib/net10.0/Immutable.Build.Cake.xml")!.Open();
        var members = XDocument.Load(docs).Descendants("member").Select(m => (string)m.Attribute("name")!).ToList();
        foreach (var alias in new[] { "ImmutableBake", "ImmutableRollout", "ImmutableRollback", "ImmutableStatus", "ImmutablePrune" })
        {
            Assert.Contains(members, m => m.StartsWith($"M:Immutable.Build.Cake.ImmutableAliases.{alias}(", StringComparison.Ordinal));
        }
    }
}
