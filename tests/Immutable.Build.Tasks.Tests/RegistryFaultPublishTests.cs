namespace Immutable.Build.Tasks.Tests;

/// <summary>
/// <c>dotnet publish</c> of the sample, with the packed package, pushing through the fault proxy to the real registry:
/// what the in-process matrix shows, end to end with the product's own retry settings.
/// </summary>
public sealed class RegistryFaultPublishTests(BaseImagesFixture bases)
{
    private static readonly string[] Outputs = ["ImmutableImageDigest", "ImmutableReleaseId"];

    private RegistryFixture Registry => bases.Registry;

    public static TheoryData<RegistryRequestKind, RegistryFault, int, bool> Cases => new()
    {
        { RegistryRequestKind.ManifestPut, RegistryFault.Unavailable, 1, true },
        { RegistryRequestKind.UploadPut, RegistryFault.ResetMidBody, 1, true },
        { RegistryRequestKind.ManifestPut, RegistryFault.InternalError, FaultPlan.Always, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_publish_through_a_faulty_registry_pushes_the_release_whole_or_fails_with_a_code_and_no_tag(RegistryRequestKind kind, RegistryFault fault, int count, bool succeeds)
    {
        bases.Require();
        var workspace = await SampleWorkspace.CreateAsync();
        var repository = $"tests/fault-publish-{Guid.NewGuid().ToString("N")[..8]}";
        var tag = (await workspace.GitAsync("rev-parse", "HEAD"))[..12];
        await using var proxy = new RegistryFaultProxy(Registry.Address) { Plan = new FaultPlan(kind, fault, count) };

        var publish = await workspace.PublishWithResultsAsync(
            [$"-p:ContainerRegistry={proxy.Address}", $"-p:ContainerRepository={repository}", $"-p:ContainerBaseImage={bases.Busybox}"],
            Outputs);

        Assert.True(proxy.Injected > 0, "the fault never fired: " + string.Join(" | ", proxy.Log));
        if (succeeds)
        {
            Assert.True(publish.Process.ExitCode == 0, publish.Process.Output);
            Assert.Equal(publish["ImmutableImageDigest"], await Registry.TagDigestAsync(repository, tag));
        }
        else
        {
            Assert.NotEqual(0, publish.Process.ExitCode);
            Assert.Contains("IMB2002", publish.Process.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("   at Immutable.Build", publish.Process.Output, StringComparison.Ordinal);
            Assert.Null(await Registry.TagDigestAsync(repository, tag));
        }

        // Past the proxy: only the release's tag, never a lease left behind.
        Assert.Equal(succeeds ? [tag] : [], await Registry.TagsAsync(repository));
    }
}
