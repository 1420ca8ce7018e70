namespace Immutable.Build.Tasks.Tests;

/// <summary>Bad input gets its IMB code with the fix, no stack trace, and nothing written to the registry.</summary>
[Collection(SharedRegistry.Name)]
public sealed class BadInputTests(BaseImagesFixture bases)
{
    public static TheoryData<string, string[]> Cases => new()
    {
        { "IMB1004", ["-p:ContainerImageTags=-leading-dash"] },
        { "IMB2013", ["-p:ContainerRepository=bad//repo"] },
        { "IMB2001", ["-p:ContainerRegistry=127.0.0.1:9"] },
        { "IMB2006", ["-p:ContainerBaseImage={registry}/base/no-such-image:1"] },
        { "IMB1003", ["-p:ImmutableTagPolicy=weekly"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Each_bad_input_fails_with_its_code_and_pushes_nothing(string code, string[] arguments)
    {
        bases.Require();
        var registry = bases.Registry;
        var workspace = await SampleWorkspace.CreateAsync();
        var repository = "tests/bad-" + Guid.NewGuid().ToString("N")[..8];
        string[] defaults = [$"-p:ContainerRegistry={registry.Address}", $"-p:ContainerRepository={repository}", $"-p:ContainerBaseImage={bases.Busybox}"];

        // A case's own setting comes after the defaults, so it wins.
        var publish = await workspace.PublishAsync([.. defaults, .. arguments.Select(a => a.Replace("{registry}", registry.Address, StringComparison.Ordinal))], timeout: TimeSpan.FromMinutes(3));
        Assert.NotEqual(0, publish.ExitCode);
        Assert.Contains($"error {code}", publish.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at Immutable.Build", publish.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("MSB4018", publish.Output, StringComparison.Ordinal);
        Assert.Empty(await registry.TagsAsync(repository));
        Assert.Empty(RegistryFixture.RepositoryBlobs(repository));
        // Not even an upload was started: the registry keeps a folder for any repository it was asked to write.
        Assert.False(Directory.Exists(Path.Combine(RegistryFixture.StorageDir, "docker", "registry", "v2", "repositories", repository)));
        Assert.False(File.Exists(Path.Combine(workspace.ProjectDir, "bin", "Release", "net10.0", "immutable", "release.json")));
    }
}
