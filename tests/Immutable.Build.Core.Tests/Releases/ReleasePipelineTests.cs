using System.Text.Json;
using Immutable.Build.Core.Tests.Images;
using Immutable.Build.Images;
using Immutable.Build.Releases;

namespace Immutable.Build.Core.Tests.Releases;

/// <summary>
/// The release of a publish folder to an OCI layout on disk, end to end through <see cref="ReleasePipeline"/>, with no
/// <c>dotnet publish</c>, registry or network: what release.json says, how the layers split, and how a bad setting fails.
/// </summary>
public sealed class ReleasePipelineTests : IDisposable
{
    private readonly ReleaseProject _project = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _project.Dispose();

    private static async Task<ReleaseResult> RunAsync(ReleaseRequest request, RecordingLog? log = null) =>
        await ReleasePipeline.RunAsync(request, (log ?? new RecordingLog()).Log, Ct);

    [Fact]
    public async Task A_release_to_an_OCI_layout_records_the_commit_the_image_and_the_build_in_release_json()
    {
        var result = await RunAsync(_project.Request);

        var manifest = ReleaseManifestFile.Read(_project.ManifestPath);
        Assert.Equal(_project.ManifestPath, result.ManifestPath);
        Assert.Equal(ReleaseJson.Serialize(result.Manifest), ReleaseJson.Serialize(manifest));
        Assert.Equal(ReleaseManifest.CurrentSchemaVersion, manifest.SchemaVersion);
        Assert.Equal("hello", manifest.App);
        Assert.Equal(ReleaseProject.Commit[..12], manifest.ReleaseId);
        Assert.Equal(manifest.ReleaseId, result.ReleaseId);
        Assert.Equal(new ReleaseSource(ReleaseProject.Commit, ReleaseProject.Commit[..12], false, ReleaseProject.CommitTime, null, "ImmutableSourceRevision"), manifest.Source);

        var image = manifest.Image;
        Assert.Null(image.Registry);
        Assert.Equal("hello-immutable", image.Repository);
        Assert.Equal(result.Digest, image.Digest);
        Assert.Equal($"hello-immutable@{result.Digest}", image.Reference);
        Assert.Equal(image.Reference, result.Reference);
        Assert.Equal(MediaTypes.OciManifest, image.MediaType);
        Assert.Equal([manifest.ReleaseId], image.Tags);
        Assert.Equal([manifest.ReleaseId], result.Tags);
        Assert.Empty(image.MovingTags);
        Assert.True(image.Reproducible);
        Assert.Equal("immutable", image.Engine);
        Assert.Null(image.Base); // scratch
        Assert.Equal(new Dictionary<string, string> { ["ociLayout"] = "image" }, image.Outputs);
        Assert.Equal(["packages", "project-references", "app"], image.Layers.Select(l => l.Name));
        Assert.All(image.Layers, l => Assert.Equal(MediaTypes.OciLayerGzip, l.MediaType));

        Assert.Equal(new ReleaseBuildInfo("10.0.100", "Release", "net10.0", "linux-x64", ReleaseManifestBuilder.ToolVersion), manifest.Build);
        var subject = Assert.Single(manifest.Provenance.Subject);
        Assert.Equal("hello-immutable", subject.Name);
        Assert.Equal(Digest.Parse(result.Digest).Hex, subject.Digest["sha256"]);

        // The layout on disk holds the image under its tag, and every blob the manifest names.
        Assert.Equal(Digest.Parse(result.Digest), LayoutIndex.Tags(_project.LayoutDirectory)[manifest.ReleaseId]);
        foreach (var digest in image.Layers.Select(l => l.Digest).Append(image.ConfigDigest!).Append(image.Digest))
        {
            Assert.True(File.Exists(Path.Combine(_project.LayoutDirectory, "blobs", "sha256", Digest.Parse(digest).Hex)), digest);
        }
    }

    [Theory]
    [InlineData("latest")]
    [InlineData("stable")]
    [InlineData("main")]
    [InlineData("1")]
    [InlineData("1.2")]
    public async Task A_moving_name_in_ContainerImageTags_is_a_moving_tag_with_IMB1105_and_the_release_id_stays_the_commits(string tag)
    {
        var log = new RecordingLog();

        var result = await RunAsync(_project.Request with { UserTags = [tag] }, log);

        Assert.Equal(ReleaseProject.Commit[..12], result.ReleaseId);
        Assert.Equal([ReleaseProject.Commit[..12]], result.Manifest.Image.Tags);
        Assert.Equal([tag], result.Manifest.Image.MovingTags);
        Assert.Contains(log.Warnings, w => w.Code == "IMB1105" && w.Message.Contains($"'{tag}'", StringComparison.Ordinal));
        Assert.Equal(Digest.Parse(result.Digest), LayoutIndex.Tags(_project.LayoutDirectory)[tag]);
    }

    [Fact]
    public async Task A_fixed_name_in_ContainerImageTags_stays_the_release_id_without_a_warning()
    {
        var log = new RecordingLog();

        var result = await RunAsync(_project.Request with { UserTags = ["1.2.3", "latest"] }, log);

        Assert.Equal("1.2.3", result.ReleaseId);
        Assert.Equal(["latest"], result.Manifest.Image.MovingTags);
        Assert.Single(log.Warnings, w => w.Code == "IMB1105");
    }

    [Theory]
    [InlineData("feature-x", "feature-x", true)]
    [InlineData("feature-x", "feature/x", true)]
    [InlineData("v2", null, true)]
    [InlineData("1.2.3", null, false)]
    [InlineData("0123456789ab", "main", false)]
    [InlineData("latest-build-7", null, false)]
    public void Moving_names_include_the_branch_being_built_and_partial_versions(string tag, string? branch, bool moving) =>
        Assert.Equal(moving, Immutable.Build.Versioning.ReleaseTags.IsMovingName(tag, branch));

    [Fact]
    public async Task The_image_config_carries_the_commit_time_the_app_label_and_the_settings()
    {
        var result = await RunAsync(_project.Request);

        var configPath = Path.Combine(_project.LayoutDirectory, "blobs", "sha256", Digest.Parse(result.Manifest.Image.ConfigDigest!).Hex);
        using var config = JsonDocument.Parse(await File.ReadAllBytesAsync(configPath, Ct));
        var root = config.RootElement;
        Assert.Equal("2023-11-14T22:13:20Z", root.GetProperty("created").GetString());
        var labels = root.GetProperty("config").GetProperty("Labels");
        Assert.Equal(ReleaseProject.Commit, labels.GetProperty("org.opencontainers.image.revision").GetString());
        Assert.Equal("hello", labels.GetProperty(ReleasePipeline.AppLabel).GetString());
        Assert.Equal("web", labels.GetProperty("team").GetString());
        // The SDK's wall-clock label is replaced by the commit time, so the digest does not depend on when it was built.
        Assert.Equal("2023-11-14T22:13:20Z", labels.GetProperty("org.opencontainers.image.created").GetString());
        Assert.Equal("/app/", root.GetProperty("config").GetProperty("WorkingDir").GetString());
        Assert.Equal(["dotnet", "/app/App.dll"], root.GetProperty("config").GetProperty("Entrypoint").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("ASPNETCORE_HTTP_PORTS=8080", root.GetProperty("config").GetProperty("Env").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task The_same_inputs_in_another_folder_give_the_same_digest()
    {
        using var twin = new ReleaseProject();
        var a = await RunAsync(_project.Request);
        File.SetLastWriteTimeUtc(Path.Combine(twin.PublishDirectory, "App.dll"), new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc));

        var b = await RunAsync(twin.Request);

        Assert.Equal(a.Digest, b.Digest);
        Assert.Equal(a.Manifest.Image.Layers, b.Manifest.Image.Layers);
    }

    [Fact]
    public async Task A_changed_app_file_changes_only_the_app_layer()
    {
        var v1 = await RunAsync(_project.Request);
        _project.WritePublish("App.dll", "app v2, a little longer");

        var v2 = await RunAsync(_project.Request with { SourceRevision = ReleaseProject.OtherCommit });

        var before = v1.Manifest.Image.Layers.ToDictionary(l => l.Name, l => l.Digest);
        var after = v2.Manifest.Image.Layers.ToDictionary(l => l.Name, l => l.Digest);
        Assert.Equal(before["packages"], after["packages"]);
        Assert.Equal(before["project-references"], after["project-references"]);
        Assert.NotEqual(before["app"], after["app"]);
        Assert.NotEqual(v1.Digest, v2.Digest);

        // Both releases stay in the layout, each under its own tag.
        var tags = LayoutIndex.Tags(_project.LayoutDirectory);
        Assert.Equal(Digest.Parse(v1.Digest), tags[ReleaseProject.Commit[..12]]);
        Assert.Equal(Digest.Parse(v2.Digest), tags[ReleaseProject.OtherCommit[..12]]);
    }

    [Fact]
    public async Task A_new_commit_with_the_same_files_changes_no_layer()
    {
        var v1 = await RunAsync(_project.Request);

        var v2 = await RunAsync(_project.Request with { SourceRevision = ReleaseProject.OtherCommit });

        Assert.Equal(v1.Manifest.Image.Layers, v2.Manifest.Image.Layers);
        Assert.NotEqual(v1.Digest, v2.Digest); // the revision label differs
    }

    [Fact]
    public async Task Unlisted_publish_files_go_to_the_app_layer()
    {
        var listed = await RunAsync(_project.Request);

        var unlisted = await RunAsync(_project.Request with { PublishFiles = [], SourceRevision = ReleaseProject.OtherCommit });

        Assert.Equal(["packages", "project-references", "app"], listed.Manifest.Image.Layers.Select(l => l.Name));
        Assert.Equal(["app"], unlisted.Manifest.Image.Layers.Select(l => l.Name));
    }

    [Fact]
    public async Task User_and_moving_tags_are_written_to_the_layout_and_recorded()
    {
        var result = await RunAsync(_project.Request with { UserTags = ["1.2.3", "1.2.3"], MovingTags = ["latest", "1.2.3"] });

        Assert.Equal("1.2.3", result.ReleaseId);
        Assert.Equal(["1.2.3"], result.Manifest.Image.Tags);
        Assert.Equal(["latest"], result.Manifest.Image.MovingTags);
        var tags = LayoutIndex.Tags(_project.LayoutDirectory);
        Assert.Equal(Digest.Parse(result.Digest), tags["1.2.3"]);
        Assert.Equal(Digest.Parse(result.Digest), tags["latest"]);
    }

    [Fact]
    public async Task The_version_tag_policy_names_the_release_by_version_and_commit()
    {
        var result = await RunAsync(_project.Request with { TagPolicy = "version", Version = "1.4.0+build.7" });

        Assert.Equal($"1.4.0-build.7-{ReleaseProject.Commit[..12]}", result.ReleaseId);
    }

    [Fact]
    public async Task An_OCI_layout_base_comes_first_and_is_recorded_with_its_digest()
    {
        var baseLayout = Path.Combine(_project.Root, "base");
        var bases = await ImageTestSupport.WriteMultiPlatformBaseAsync(baseLayout, "linux-x64");

        var result = await RunAsync(_project.Request with { BaseImage = "mcr.microsoft.com/dotnet/runtime:linux-x64", BaseImageLayout = baseLayout });

        var image = result.Manifest.Image;
        Assert.Equal(new ReleaseBaseImage($"oci:{baseLayout}:linux-x64", bases["linux-x64"].Value), image.Base);
        Assert.Equal(["packages", "project-references", "app"], image.Layers.TakeLast(3).Select(l => l.Name));
        Assert.Equal(5, image.Layers.Count); // the base's two, then the app's three
        Assert.Contains(result.Manifest.Provenance.Predicate.BuildDefinition.ResolvedDependencies, d => d.Uri == $"oci:oci:{baseLayout}:linux-x64" && d.Digest["sha256"] == bases["linux-x64"].Hex);
    }

    [Fact]
    public async Task The_tag_guard_refuses_the_same_tag_for_other_content_and_release_json_is_removed()
    {
        await RunAsync(_project.Request);
        var index = await File.ReadAllBytesAsync(Path.Combine(_project.LayoutDirectory, "index.json"), Ct);
        _project.WritePublish("App.dll", "app v1 with an uncommitted change");

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => RunAsync(_project.Request));

        Assert.Equal("IMB2016", e.Code);
        Assert.False(File.Exists(_project.ManifestPath));
        Assert.Equal(index, await File.ReadAllBytesAsync(Path.Combine(_project.LayoutDirectory, "index.json"), Ct));
    }

    [Fact]
    public async Task IMB2016_for_a_fixed_tag_another_commit_reused_names_both_commits()
    {
        await RunAsync(_project.Request with { UserTags = ["1.0.0"] });
        _project.WritePublish("App.dll", "app v2");

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => RunAsync(_project.Request with { UserTags = ["1.0.0"], SourceRevision = ReleaseProject.OtherCommit }));

        Assert.Equal("IMB2016", e.Code);
        Assert.Contains($"the tag '1.0.0' holds commit {ReleaseProject.Commit[..12]}", e.Message, StringComparison.Ordinal);
        Assert.Contains($"this build is commit {ReleaseProject.OtherCommit[..12]}: the tag was reused by another commit", e.Message, StringComparison.Ordinal);
        Assert.Contains("remove it so the release is named by its commit", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("same commit", e.Message, StringComparison.Ordinal);
        Assert.Contains("ImmutableAllowTagOverwrite=true", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IMB2016_for_the_same_commit_names_the_settings_labels_layers_and_build_facts_that_differ()
    {
        await RunAsync(_project.Request);
        _project.WritePublish("App.dll", "app v1 built by another SDK");

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => RunAsync(_project.Request with
        {
            SdkVersion = "10.0.200",
            Labels = [new("org.opencontainers.image.created", "2026-05-01T10:11:12Z"), new("team", "api")],
            Environment = [new("ASPNETCORE_HTTP_PORTS", "9090")],
            Ports = ["9090/tcp"],
        }));

        Assert.Equal("IMB2016", e.Code);
        Assert.Contains($"holds this same commit {ReleaseProject.Commit[..12]}", e.Message, StringComparison.Ordinal);
        Assert.Contains("label team: 'web' → 'api'", e.Message, StringComparison.Ordinal);
        Assert.Contains("environment variable ASPNETCORE_HTTP_PORTS: '8080' → '9090'", e.Message, StringComparison.Ordinal);
        Assert.Contains("ports: '8080/tcp' → '9090/tcp'", e.Message, StringComparison.Ordinal);
        Assert.Contains("app layer: 'sha256:", e.Message, StringComparison.Ordinal);
        Assert.Contains("SDK version: '10.0.100' → '10.0.200'", e.Message, StringComparison.Ordinal);
        // What did not change is not listed, and the other cause is not offered.
        Assert.DoesNotContain("packages layer", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("base image:", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("reused", e.Message, StringComparison.Ordinal);
        Assert.Contains("build it as it was built", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IMB2016_falls_back_to_both_causes_when_the_image_under_the_tag_cannot_be_read()
    {
        var first = await RunAsync(_project.Request);
        File.Delete(Path.Combine(_project.LayoutDirectory, "blobs", "sha256", Digest.Parse(first.Digest).Hex));
        _project.WritePublish("App.dll", "app v1 changed");

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => RunAsync(_project.Request));

        Assert.Equal("IMB2016", e.Code);
        Assert.Contains($"already points at {first.Digest}", e.Message, StringComparison.Ordinal);
        Assert.Contains("another commit reused a fixed tag", e.Message, StringComparison.Ordinal);
        Assert.Contains("the same commit built with other content", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_AllowTagOverwrite_the_tag_moves_loudly()
    {
        var v1 = await RunAsync(_project.Request);
        _project.WritePublish("App.dll", "app v1 rebuilt");
        var log = new RecordingLog();

        var v2 = await RunAsync(_project.Request with { AllowTagOverwrite = true }, log);

        Assert.NotEqual(v1.Digest, v2.Digest);
        Assert.Equal(Digest.Parse(v2.Digest), LayoutIndex.Tags(_project.LayoutDirectory)[v2.ReleaseId]);
        var warning = Assert.Single(log.Warnings);
        Assert.Equal("IMB2101", warning.Code);
        Assert.Contains(v1.Digest, warning.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BadSettings => new()
    {
        { "tag-policy", "IMB1003" },
        { "image-format", "IMB1006" },
        { "user-tag", "IMB1004" },
        { "moving-tag", "IMB1004" },
        { "source-revision", "IMB1002" },
        { "publish-folder", "IMB1007" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task A_bad_setting_fails_with_its_code_and_nothing_is_written(string setting, string code)
    {
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => RunAsync(Spoil(_project.Request, setting)));

        Assert.Equal(code, e.Code);
        Assert.Empty(_project.OutputSnapshot());
    }

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task A_bad_setting_removes_the_previous_release_json_and_leaves_the_layout_alone(string setting, string code)
    {
        await RunAsync(_project.Request);
        var before = _project.OutputSnapshot();

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => RunAsync(Spoil(_project.Request, setting)));

        Assert.Equal(code, e.Code);
        Assert.False(File.Exists(_project.ManifestPath));
        before.Remove("release.json");
        Assert.Equal(before, _project.OutputSnapshot());
    }

    private ReleaseRequest Spoil(ReleaseRequest request, string setting) => setting switch
    {
        "tag-policy" => request with { TagPolicy = "weekly" },
        "image-format" => request with { ImageFormat = "zip" },
        "user-tag" => request with { UserTags = ["not a tag"] },
        "moving-tag" => request with { MovingTags = ["-latest"] },
        "source-revision" => request with { SourceRevision = "HEAD~1" },
        "publish-folder" => request with { PublishDirectory = Path.Combine(_project.Root, "never-published") },
        _ => throw new ArgumentOutOfRangeException(nameof(setting), setting, null),
    };
}
