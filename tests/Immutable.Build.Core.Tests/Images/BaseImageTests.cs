using Immutable.Build.Images;
using static Immutable.Build.Core.Tests.Images.ImageTestSupport;

namespace Immutable.Build.Core.Tests.Images;

public sealed class BaseImageTests
{
    [Theory]
    [InlineData("linux-x64", "linux", "amd64", null)]
    [InlineData("linux-arm64", "linux", "arm64", "v8")]
    [InlineData("linux-musl-x64", "linux", "amd64", null)]
    [InlineData("linux-arm", "linux", "arm", "v7")]
    [InlineData("win-x64", "windows", "amd64", null)]
    public async Task Scratch_base_is_empty_and_takes_its_platform_from_the_rid(string rid, string os, string arch, string? variant)
    {
        var scratch = await new ScratchBase(rid).ResolveAsync(Ct);
        Assert.Equal("scratch", scratch.Name);
        Assert.Empty(scratch.Layers);
        Assert.Null(scratch.ManifestDigest);
        Assert.Equal((os, arch, variant), (scratch.Config.Os, scratch.Config.Architecture, scratch.Config.Variant));
        Assert.Empty(scratch.Config.RootFs.DiffIds);
    }

    [Fact]
    public void Rids_without_a_container_platform_are_refused()
    {
        Assert.Equal("IMB3007", Assert.Throws<ImmutableBuildException>(() => new ScratchBase("osx-arm64")).Code);
        Assert.Equal("IMB3007", Assert.Throws<ImmutableBuildException>(() => Platforms.FromRuntimeIdentifier("linux-sparc")).Code);
    }

    [Fact]
    public void Variants_match_as_containerd_normalises_them()
    {
        Assert.True(Platforms.Matches(new Platform("arm64", "linux"), Platforms.FromRuntimeIdentifier("linux-arm64")));
        Assert.True(Platforms.Matches(new Platform("amd64", "linux") { Variant = "v1" }, Platforms.FromRuntimeIdentifier("linux-x64")));
        Assert.False(Platforms.Matches(new Platform("amd64", "linux") { Variant = "v3" }, Platforms.FromRuntimeIdentifier("linux-x64")));
        Assert.False(Platforms.Matches(new Platform("arm", "linux") { Variant = "v6" }, Platforms.FromRuntimeIdentifier("linux-arm")));
    }

    [Theory]
    [InlineData("linux-x64", "amd64")]
    [InlineData("linux-arm64", "arm64")]
    public async Task Oci_layout_index_resolves_to_the_rids_platform(string rid, string arch)
    {
        var layout = NewDir("base-multi");
        var digests = await WriteMultiPlatformBaseAsync(layout, "linux-x64", "linux-arm64");
        var resolved = await new OciLayoutBase(layout, "multi", rid).ResolveAsync(Ct);
        Assert.Equal(digests[rid], resolved.ManifestDigest);
        Assert.NotNull(resolved.IndexDigest);
        Assert.Equal(arch, resolved.Config.Architecture);
        Assert.Equal(2, resolved.Layers.Count);
        Assert.Contains("BASE_RID=" + rid, resolved.Config.Config!.Env!);
        Assert.Null(resolved.Repository);
    }

    [Theory]
    [InlineData("linux-x64")]
    [InlineData("linux-arm64")]
    public async Task Registry_index_resolves_to_the_rids_platform_without_fetching_layers(string rid)
    {
        var layout = NewDir("base-registry");
        var digests = await WriteMultiPlatformBaseAsync(layout, "linux-x64", "linux-arm64");
        var fetcher = new LayoutFetcher(layout);
        var source = new RegistryBase(fetcher, ImageReference.Parse("127.0.0.1:5000/base/multi:multi"), rid);

        var image = await BuildAppAsync(source, "on-registry-base");
        Assert.Equal(digests[rid], image.BaseDigest);
        Assert.Equal("base/multi", image.Base.Repository);
        Assert.All(fetcher.Repositories, r => Assert.Equal("base/multi", r));
        Assert.Equal(1, fetcher.BlobGets); // the config
        Assert.Equal(0, fetcher.BlobOpens);
        Assert.All(image.Content.Layers.Take(2), l => Assert.Equal("base/multi", l.SourceRepository));
        Assert.All(image.Content.Layers.Skip(2), l => Assert.Null(l.SourceRepository));
    }

    [Fact]
    public async Task A_platform_the_base_lacks_is_reported_with_the_platforms_it_has()
    {
        var layout = NewDir("base-lacking");
        await WriteMultiPlatformBaseAsync(layout, "linux-x64", "linux-arm64");
        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => new OciLayoutBase(layout, "multi", "linux-s390x").ResolveAsync(Ct));
        Assert.Equal("IMB3008", error.Code);
        Assert.Contains("linux/amd64, linux/arm64/v8", error.Message, StringComparison.Ordinal);

        var single = await Assert.ThrowsAsync<ImmutableBuildException>(() => new OciLayoutBase(layout, "linux-arm64", "linux-x64").ResolveAsync(Ct));
        Assert.Equal("IMB3008", single.Code);
    }

    [Fact]
    public async Task Layout_needs_a_ref_name_when_it_holds_several_images_and_reports_unknown_names()
    {
        var layout = NewDir("base-names");
        await WriteMultiPlatformBaseAsync(layout, "linux-x64");
        var ambiguous = await Assert.ThrowsAsync<ImmutableBuildException>(() => new OciLayoutBase(layout, null, "linux-x64").ResolveAsync(Ct));
        Assert.Equal("IMB3009", ambiguous.Code);
        var unknown = await Assert.ThrowsAsync<ImmutableBuildException>(() => new OciLayoutBase(layout, "nope", "linux-x64").ResolveAsync(Ct));
        Assert.Equal("IMB3009", unknown.Code);
        Assert.Contains("linux-x64", unknown.Message, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<ImmutableBuildException>(() => new OciLayoutBase(NewDir("empty"), null, "linux-x64").ResolveAsync(Ct));
        Assert.Equal("IMB3009", missing.Code);

        var single = NewDir("base-single");
        var image = await BuildAppAsync(new ScratchBase("linux-x64"), "single");
        await new OciLayoutWriter(single).WriteAsync(image.Content, [], Ct);
        Assert.Equal(image.Digest, (await new OciLayoutBase(single, null, "linux-x64").ResolveAsync(Ct)).ManifestDigest);
    }

    [Fact]
    public async Task A_registry_manifest_that_does_not_match_its_pinned_digest_is_refused()
    {
        var layout = NewDir("base-pinned");
        var digests = await WriteMultiPlatformBaseAsync(layout, "linux-x64", "linux-arm64");
        var fetcher = new LayoutFetcher(layout);
        var good = await new RegistryBase(fetcher, ImageReference.Parse($"localhost:5000/base@{digests["linux-x64"]}"), "linux-x64").ResolveAsync(Ct);
        Assert.Equal(digests["linux-x64"], good.ManifestDigest);
        Assert.Null(good.IndexDigest);

        // The tag serves the arm64 manifest, but the digest pins the amd64 one: the tag must not win.
        var lying = new TagServingFetcher(fetcher, digests["linux-arm64"]);
        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() =>
            new RegistryBase(lying, ImageReference.Parse($"localhost:5000/base@{digests["linux-x64"]}"), "linux-x64").ResolveAsync(Ct));
        Assert.Equal("IMB3011", error.Code);
    }

    [Fact]
    public async Task A_base_built_by_umoci_is_read_with_its_history_and_gzip_layers()
    {
        RequireTool("umoci");
        var work = NewDir("base-umoci");
        var layout = Path.Combine(work, "oci");
        var rootfs = Path.Combine(work, "rootfs");
        WriteFile(rootfs, "bin/tool", "#!/bin/sh\n", executable: true);
        WriteFile(rootfs, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        await RunAsync("umoci", "init", "--layout", layout);
        await RunAsync("umoci", "new", "--image", layout + ":scratch");
        await RunAsync("umoci", "insert", "--image", layout + ":scratch", "--tag", "1", "--history.created_by", "test rootfs", rootfs, "/");
        await RunAsync("umoci", "config", "--image", layout + ":1", "--config.env", "PATH=/bin", "--config.cmd", "/bin/sh");

        var resolved = await new OciLayoutBase(layout, "1", "linux-x64").ResolveAsync(Ct);
        Assert.Single(resolved.Layers);
        Assert.Equal(MediaTypes.OciLayerGzip, resolved.Layers[0].MediaType);
        Assert.Contains(resolved.Config.History!, h => h.CreatedBy == "test rootfs");

        var image = await BuildAppAsync(new OciLayoutBase(layout, "1", "linux-x64"), "on-umoci");
        Assert.Equal(3, image.Layers.Count);
        Assert.Equal(["/app/App"], image.Config.Config!.Entrypoint!);
        Assert.Null(image.Config.Config.Cmd); // the base's /bin/sh does not outlive a new entrypoint
        Assert.Equal(["PATH=/bin", "APP_GREETING=hello"], image.Config.Config.Env!);
    }

    /// <summary>Answers every manifest request with one fixed manifest, as a tag moved by someone else would.</summary>
    private sealed class TagServingFetcher(LayoutFetcher inner, Digest served) : IManifestFetcher
    {
        public Task<(byte[] Content, string MediaType)> GetManifestAsync(string repository, string reference, CancellationToken ct) =>
            inner.GetManifestAsync(repository, served.Value, ct);

        public Task<byte[]> GetBlobAsync(string repository, Digest digest, CancellationToken ct) => inner.GetBlobAsync(repository, digest, ct);

        public Task<Stream> OpenBlobAsync(string repository, Digest digest, CancellationToken ct) => inner.OpenBlobAsync(repository, digest, ct);
    }
}
