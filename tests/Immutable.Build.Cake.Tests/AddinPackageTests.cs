using System.IO.Compression;

namespace Immutable.Build.Cake.Tests;

public sealed class AddinPackageTests
{
    [Fact]
    public void The_addin_package_carries_its_assembly_for_net10()
    {
        var nupkg = Path.Combine(TestEnvironment.PackagesDir, $"Immutable.Build.Cake.{TestEnvironment.PackageVersion}.nupkg");
        Assert.True(File.Exists(nupkg), $"{nupkg} is missing: run ./build.sh pack");
        using var zip = ZipFile.OpenRead(nupkg);
        var entries = zip.Entries.Select(e => e.FullName).ToList();
        Assert.Contains("lib/net10.0/Immutable.Build.Cake.dll", entries);
    }
}
