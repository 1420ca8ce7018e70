namespace Immutable.Build.Tasks.Tests;

/// <summary>The samples restore Immutable.Build from the freshly packed feed, as users do.</summary>
public sealed class PackageConsumptionTests
{
    [Fact]
    public async Task The_sample_publishes_with_the_freshly_packed_package()
    {
        var workspace = await SampleWorkspace.CreateAsync();
        var result = await workspace.PublishAsync(["-getItem:PackageReference"]);
        Assert.True(result.ExitCode == 0, result.Output);
        var assets = await File.ReadAllTextAsync(Path.Combine(workspace.ProjectDir, "obj", "project.assets.json"), TestContext.Current.CancellationToken);
        Assert.Contains($"\"Immutable.Build/{TestEnvironment.PackageVersion}\"", assets, StringComparison.Ordinal);
        Assert.True(Directory.Exists(Path.Combine(SampleWorkspace.PackagesFolder, "immutable.build", TestEnvironment.PackageVersion.ToLowerInvariant())));
    }
}
