using System.Text.Json.Nodes;
using Immutable.Build.Images;
using static Immutable.Build.Core.Tests.Images.ImageTestSupport;

namespace Immutable.Build.Core.Tests.Images;

public sealed class ImageAssemblerTests
{
    [Fact]
    public async Task Scratch_image_has_our_layers_history_and_time_and_no_empty_layer()
    {
        var root = NewDir("asm-scratch");
        WriteFile(root, "app/App.dll", "app");
        var builder = new LayerBuilder(Path.Combine(root, "cache"));
        var empty = await builder.BuildAsync(new LayerSpec("project-references", [], CommitTime), Ct);
        var app = await builder.BuildAsync(new LayerSpec("app", FilesUnder(Path.Combine(root, "app"), "app"), CommitTime), Ct);
        Assert.True(empty.IsEmpty);

        var image = ImageAssembler.Assemble(await new ScratchBase("linux-x64").ResolveAsync(Ct), [empty, app], new ImageSettings
        {
            Created = CommitTime.AddTicks(1234567), // fractions are dropped
            Entrypoint = ["dotnet", "/app/App.dll"],
        });

        Assert.Equal(MediaTypes.OciManifest, image.Content.ManifestMediaType);
        Assert.Equal(app.ToDescriptor(), Assert.Single(image.Manifest.Layers));
        Assert.Equal([app.DiffId.Value], image.Config.RootFs.DiffIds);
        var history = Assert.Single(image.Config.History!);
        Assert.Equal("Immutable.Build: app layer", history.Comment);
        Assert.Equal("2023-11-14T22:13:20Z", history.Created);
        Assert.Equal("2023-11-14T22:13:20Z", image.Config.Created);
        Assert.Equal(("linux", "amd64"), (image.Config.Os, image.Config.Architecture));
        Assert.Equal(image.ConfigDigest, Digest.Of(image.ConfigBytes));
        Assert.Equal(image.ConfigBytes, await ReadAllAsync(image.Content.Config.Open!));
        Assert.Equal("app", Assert.Single(image.Layers).Name);
        Assert.Null(image.BaseDigest);
    }

    [Fact]
    public async Task Json_is_compact_without_nulls_and_the_same_bytes_every_time()
    {
        var first = await BuildAppAsync(new ScratchBase("linux-arm64"), "asm-json-a");
        var second = await BuildAppAsync(new ScratchBase("linux-arm64"), "asm-json-b");
        Assert.Equal(first.Content.Manifest, second.Content.Manifest);
        Assert.Equal(first.ConfigBytes, second.ConfigBytes);
        Assert.Equal(first.Digest, second.Digest);

        var manifest = Utf8(first.Content.Manifest);
        var config = Utf8(first.ConfigBytes);
        Assert.StartsWith("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:", manifest, StringComparison.Ordinal);
        Assert.DoesNotContain("null", manifest, StringComparison.Ordinal);
        Assert.DoesNotContain("null", config, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", config, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u", manifest + config, StringComparison.Ordinal);
        Assert.Contains("\"ExposedPorts\":{\"8080/tcp\":{}}", config, StringComparison.Ordinal);
        Assert.Contains("\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"", config, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_merge_keeps_unknown_base_fields_and_overrides_env_in_place()
    {
        var layout = NewDir("asm-merge");
        await WriteCustomBaseAsync(layout);
        var image = await BuildAppAsync(new OciLayoutBase(layout, "custom", "linux-x64"), "asm-merge-app", new ImageSettings
        {
            Created = CommitTime,
            Environment = [new("A", "override"), new("NEW", "1"), new("B", "two"), new("NEW", "2")],
            Labels = new Dictionary<string, string> { ["org.opencontainers.image.revision"] = "abc123", ["base.label"] = "ours" },
            ExposedPorts = ["8080", "53/udp"],
            User = "app",
        });

        var config = JsonNode.Parse(image.ConfigBytes)!.AsObject();
        Assert.Equal("kept", (string?)config["container"]);
        Assert.Equal(42, (int?)config["vendor_number"]);
        Assert.Equal("deep", (string?)config["nested"]!["value"]);
        var c = config["config"]!.AsObject();
        Assert.Equal("base-host", (string?)c["Hostname"]);
        Assert.Equal(["ONBUILD echo"], c["OnBuild"]!.AsArray().Select(n => (string?)n));
        Assert.False(c.ContainsKey("Volumes")); // null in the base: left out, not written as null
        Assert.Equal(["PATH=/usr/bin", "A=override", "B=two", "WEIRD", "NEW=2"], c["Env"]!.AsArray().Select(n => (string?)n));
        Assert.Equal("app", (string?)c["User"]);
        Assert.Equal("/base", (string?)c["WorkingDir"]);
        Assert.Equal(["/bin/base-cmd"], c["Cmd"]!.AsArray().Select(n => (string?)n));
        Assert.Equal("SIGQUIT", (string?)c["StopSignal"]);
        Assert.Equal(["CMD", "true"], c["Healthcheck"]!["Test"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(30_000_000_000L, (long?)c["Healthcheck"]!["Interval"]);
        Assert.Equal("{\"53/udp\":{},\"8080/tcp\":{},\"9000/tcp\":{}}", c["ExposedPorts"]!.ToJsonString());
        Assert.Equal("{\"base.label\":\"ours\",\"base.only\":\"yes\",\"org.opencontainers.image.revision\":\"abc123\"}", c["Labels"]!.ToJsonString());
        var history = config["history"]!.AsArray();
        Assert.Equal("base step", (string?)history[0]!["created_by"]);
        Assert.Equal("x", (string?)history[0]!["unknown_history_field"]);
        Assert.Equal("2001-01-01T00:00:00.123456789Z", (string?)history[0]!["created"]);
        Assert.Equal(3, history.Count);
        Assert.Equal("extra", (string?)config["rootfs"]!["rootfs_extra"]);
        Assert.Equal(3, config["rootfs"]!["diff_ids"]!.AsArray().Count);
    }

    [Fact]
    public async Task Docker_format_converts_media_types_but_keeps_base_layer_bytes()
    {
        var layout = NewDir("asm-docker");
        await WriteMultiPlatformBaseAsync(layout, "linux-x64");
        var oci = await BuildAppAsync(new OciLayoutBase(layout, "linux-x64", "linux-x64"), "asm-oci");
        var docker = await BuildAppAsync(new OciLayoutBase(layout, "linux-x64", "linux-x64"), "asm-dock", new ImageSettings { Created = CommitTime, Format = ManifestFormat.Docker, Annotations = new Dictionary<string, string> { ["a"] = "b" } });

        Assert.Equal(MediaTypes.DockerManifest, docker.Content.ManifestMediaType);
        Assert.Equal(MediaTypes.DockerManifest, docker.Manifest.MediaType);
        Assert.Equal(MediaTypes.DockerConfig, docker.Manifest.Config.MediaType);
        Assert.Null(docker.Manifest.Annotations);
        Assert.All(docker.Manifest.Layers, l => Assert.Equal(MediaTypes.DockerLayerGzip, l.MediaType));
        Assert.All(oci.Manifest.Layers, l => Assert.Equal(MediaTypes.OciLayerGzip, l.MediaType));
        Assert.Equal(oci.Manifest.Layers.Select(l => (l.Digest, l.Size)), docker.Manifest.Layers.Select(l => (l.Digest, l.Size)));
        Assert.Equal(
            await ReadAllAsync(oci.Content.Layers[0].Open!),
            await ReadAllAsync(docker.Content.Layers[0].Open!));
    }

    [Fact]
    public async Task Settings_that_an_image_cannot_carry_are_refused()
    {
        var scratch = await new ScratchBase("linux-x64").ResolveAsync(Ct);
        ImmutableBuildException Fails(ImageSettings s) => Assert.Throws<ImmutableBuildException>(() => ImageAssembler.Assemble(scratch, [], s));
        Assert.Equal("IMB3013", Fails(new ImageSettings { Created = CommitTime, ExposedPorts = ["http"] }).Code);
        Assert.Equal("IMB3013", Fails(new ImageSettings { Created = CommitTime, ExposedPorts = ["70000"] }).Code);
        Assert.Equal("IMB3013", Fails(new ImageSettings { Created = CommitTime, ExposedPorts = ["80/icmp"] }).Code);
        Assert.Equal("IMB3013", Fails(new ImageSettings { Created = CommitTime, Environment = [new("A=B", "c")] }).Code);
        Assert.Equal("IMB3013", Fails(new ImageSettings { Created = CommitTime, Labels = new Dictionary<string, string> { [" "] = "x" } }).Code);
    }

    /// <summary>A base whose config has fields no model names, written as another tool would.</summary>
    private static async Task WriteCustomBaseAsync(string layout)
    {
        var root = NewDir("custom-base-files");
        WriteFile(root, "etc/os-release", "ID=test");
        var layer = await new LayerBuilder(Path.Combine(root, "cache")).BuildAsync(new LayerSpec("base", FilesUnder(Path.Combine(root, "etc"), "etc"), CommitTime), Ct);
        var config = System.Text.Encoding.UTF8.GetBytes($$$"""
            {
              "architecture": "amd64", "os": "linux", "container": "kept", "vendor_number": 42, "nested": {"value": "deep"},
              "docker_version": null,
              "config": {
                "Hostname": "base-host", "OnBuild": ["ONBUILD echo"], "Volumes": null,
                "Env": ["PATH=/usr/bin", "A=1", "B=2", "WEIRD"],
                "Cmd": ["/bin/base-cmd"], "WorkingDir": "/base", "StopSignal": "SIGQUIT",
                "ExposedPorts": {"9000/tcp": {}},
                "Labels": {"base.label": "theirs", "base.only": "yes"},
                "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000}
              },
              "rootfs": {"type": "layers", "diff_ids": ["{{{layer.DiffId}}}"], "rootfs_extra": "extra"},
              "history": [{"created": "2001-01-01T00:00:00.123456789Z", "created_by": "base step", "unknown_history_field": "x"}]
            }
            """);
        var blobs = Path.Combine(layout, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        File.Copy(layer.Path, Path.Combine(blobs, layer.Digest.Hex));
        var configDigest = Digest.Of(config);
        await File.WriteAllBytesAsync(Path.Combine(blobs, configDigest.Hex), config, Ct);
        var manifest = System.Text.Encoding.UTF8.GetBytes($$$"""
            {"schemaVersion": 2, "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "{{{configDigest}}}", "size": {{{config.Length}}}},
             "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": "{{{layer.Digest}}}", "size": {{{layer.Size}}}}]}
            """);
        var manifestDigest = Digest.Of(manifest);
        await File.WriteAllBytesAsync(Path.Combine(blobs, manifestDigest.Hex), manifest, Ct);
        await File.WriteAllTextAsync(Path.Combine(layout, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}", Ct);
        await File.WriteAllTextAsync(Path.Combine(layout, "index.json"), $$$"""
            {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": "{{{manifestDigest}}}", "size": {{{manifest.Length}}},
              "annotations": {"org.opencontainers.image.ref.name": "custom"}}]}
            """, Ct);
    }
}
