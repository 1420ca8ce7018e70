using System.Text.Json;

[assembly: AssemblyFixture(typeof(BaseImagesFixture))]

namespace Immutable.Build.Tasks.Tests;

/// <summary>
/// The product's core promise, end to end: real `dotnet publish` of the sample through the freshly
/// packed package, pushing to the real registry, checked from the registry's side.
/// </summary>
[Collection(SharedRegistry.Name)]
public sealed class ReleaseTests(BaseImagesFixture bases)
{
    private static readonly string[] Outputs = ["ImmutableImageDigest", "ImmutableImageReference", "ImmutableReleaseManifest", "ImmutableReleaseId", "@ImmutableReleaseTag"];

    private RegistryFixture Registry => bases.Registry;

    private string[] PushArgs(string repository) =>
        [$"-p:ContainerRegistry={Registry.Address}", $"-p:ContainerRepository={repository}", $"-p:ContainerBaseImage={bases.Busybox}"];

    private static string NewRepository(string name) => $"tests/{name}-{Guid.NewGuid().ToString("N")[..8]}";

    [Fact]
    public async Task One_commit_gives_one_digest_across_reruns_and_a_clean_rebuild_and_a_code_change_uploads_only_the_app_layer()
    {
        bases.Require();
        var workspace = await SampleWorkspace.CreateAsync();
        var repository = NewRepository("repro");
        var commit = await workspace.GitAsync("rev-parse", "HEAD");

        var first = await workspace.PublishWithResultsAsync(PushArgs(repository), Outputs);
        Assert.True(first.Process.ExitCode == 0, first.Process.Output);
        var digest = first["ImmutableImageDigest"];
        Assert.Matches("^sha256:[0-9a-f]{64}$", digest);
        Assert.Equal(commit[..12], first["ImmutableReleaseId"]);
        Assert.Equal([commit[..12]], first.Items["ImmutableReleaseTag"]);
        Assert.Equal($"{Registry.Address}/{repository}@{digest}", first["ImmutableImageReference"]);
        Assert.Equal(digest, await Registry.TagDigestAsync(repository, commit[..12]));

        var blobsBeforeRerun = RegistryFixture.RepositoryBlobs(repository);
        var layerCache = Path.Combine(workspace.ProjectDir, "obj", "Release", "net10.0", "immutable", "layers", "sha256");
        var layerTimes = LayerFileTimes(layerCache);
        Assert.NotEmpty(layerTimes);
        var second = await workspace.PublishWithResultsAsync(PushArgs(repository), Outputs);
        Assert.True(second.Process.ExitCode == 0, second.Process.Output);
        Assert.Equal(digest, second["ImmutableImageDigest"]);
        Assert.Contains("adopted", second.Process.Output, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(blobsBeforeRerun, RegistryFixture.RepositoryBlobs(repository));
        Assert.Equal(layerTimes, LayerFileTimes(layerCache)); // no layer rewritten

        Directory.Delete(Path.Combine(workspace.ProjectDir, "bin"), recursive: true);
        Directory.Delete(Path.Combine(workspace.ProjectDir, "obj"), recursive: true);
        var clean = await workspace.PublishWithResultsAsync(PushArgs(repository), Outputs);
        Assert.True(clean.Process.ExitCode == 0, clean.Process.Output);
        Assert.Equal(digest, clean["ImmutableImageDigest"]);
        Assert.Equal(blobsBeforeRerun, RegistryFixture.RepositoryBlobs(repository));

        // A committed code change: new tag, new digest, and only the app layer (plus config and manifest) is new in the registry.
        var changed = await workspace.SetGreetingAsync("Hello again");
        var blobsBeforeChange = RegistryFixture.RepositoryBlobs(repository);
        var next = await workspace.PublishWithResultsAsync(PushArgs(repository), Outputs);
        Assert.True(next.Process.ExitCode == 0, next.Process.Output);
        Assert.NotEqual(digest, next["ImmutableImageDigest"]);
        Assert.Equal(changed[..12], next["ImmutableReleaseId"]);
        Assert.Equal(next["ImmutableImageDigest"], await Registry.TagDigestAsync(repository, changed[..12]));
        Assert.Equal(digest, await Registry.TagDigestAsync(repository, commit[..12]));

        using var oldManifest = await Registry.ManifestAsync(repository, digest);
        using var newManifest = await Registry.ManifestAsync(repository, next["ImmutableImageDigest"]);
        var oldLayers = Layers(oldManifest);
        var newLayers = Layers(newManifest);
        Assert.Equal(oldLayers.Count, newLayers.Count);
        Assert.Equal(oldLayers[..^1], newLayers[..^1]);
        Assert.NotEqual(oldLayers[^1], newLayers[^1]);
        // The new tag was written under the repository's lease, whose deleted manifest stays in storage until the registry's GC.
        var added = RegistryFixture.RepositoryBlobs(repository).Except(blobsBeforeChange).Where(b => !IsLeaseManifest(b)).ToHashSet();
        var expected = new HashSet<string> { newLayers[^1], newManifest.RootElement.GetProperty("config").GetProperty("digest").GetString()!, next["ImmutableImageDigest"] };
        Assert.Equal(expected, added);
    }

    private static bool IsLeaseManifest(string blob) =>
        File.ReadAllText(Path.Combine(RegistryFixture.StorageDir, "docker", "registry", "v2", "blobs", "sha256", blob[7..9], blob[7..], "data")).Contains("build.immutable.lease.holder", StringComparison.Ordinal);

    [Fact]
    public async Task The_image_has_packages_project_reference_and_app_layers_above_its_base()
    {
        bases.Require();
        var workspace = await SampleWorkspace.CreateAsync();
        var repository = NewRepository("layers");
        var publish = await workspace.PublishWithResultsAsync(PushArgs(repository), Outputs);
        Assert.True(publish.Process.ExitCode == 0, publish.Process.Output);

        using var baseManifest = await Registry.ManifestAsync("base/busybox", "1");
        using var manifest = await Registry.ManifestAsync(repository, publish["ImmutableImageDigest"]);
        var baseLayers = Layers(baseManifest);
        var layers = Layers(manifest);
        Assert.Equal(baseLayers, layers[..baseLayers.Count]);
        Assert.True(layers.Count - baseLayers.Count >= 3, $"expected at least 3 layers above the base, got {layers.Count - baseLayers.Count}");

        using var release = JsonDocument.Parse(await File.ReadAllTextAsync(publish["ImmutableReleaseManifest"]));
        var names = release.RootElement.GetProperty("image").GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("name").GetString()).ToList();
        Assert.Equal(["packages", "project-references", "app"], names.TakeLast(3));
    }

    [Fact]
    public async Task The_tag_guard_refuses_a_tag_that_points_at_other_content_and_writes_nothing()
    {
        bases.Require();
        var workspace = await SampleWorkspace.CreateAsync();
        var repository = NewRepository("guard");
        var commit = await workspace.GitAsync("rev-parse", "HEAD");
        var tag = commit[..12];
        var first = await workspace.PublishWithResultsAsync(PushArgs(repository), Outputs);
        Assert.True(first.Process.ExitCode == 0, first.Process.Output);

        // Someone points the commit's tag at other content.
        var copy = await ProcessRunner.RunAsync("skopeo", ["copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", $"docker://{bases.Busybox}", $"docker://{Registry.Address}/{repository}:{tag}"], timeout: TimeSpan.FromMinutes(2));
        copy.EnsureSuccess("skopeo copy");
        var other = await Registry.TagDigestAsync(repository, tag);
        Assert.NotEqual(first["ImmutableImageDigest"], other);
        var tagsBefore = await Registry.TagsAsync(repository);
        var blobsBefore = RegistryFixture.RepositoryBlobs(repository);

        var refused = await workspace.PublishWithResultsAsync([.. PushArgs(repository), "-p:ImmutableMovingTags=latest"], Outputs);
        Assert.NotEqual(0, refused.Process.ExitCode);
        Assert.Contains("IMB2", refused.Process.Output, StringComparison.Ordinal);
        Assert.Contains(other!, refused.Process.Output, StringComparison.Ordinal);
        Assert.Contains(first["ImmutableImageDigest"], refused.Process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at Immutable.Build", refused.Process.Output, StringComparison.Ordinal);
        Assert.Equal(other, await Registry.TagDigestAsync(repository, tag));
        Assert.Equal(tagsBefore, await Registry.TagsAsync(repository));
        Assert.Equal(blobsBefore, RegistryFixture.RepositoryBlobs(repository));

        // The explicit override writes, and says so loudly.
        var forced = await workspace.PublishWithResultsAsync([.. PushArgs(repository), "-p:ImmutableAllowTagOverwrite=true"], Outputs);
        Assert.True(forced.Process.ExitCode == 0, forced.Process.Output);
        Assert.Contains("warning IMB", forced.Process.Output, StringComparison.Ordinal);
        Assert.Equal(forced["ImmutableImageDigest"], await Registry.TagDigestAsync(repository, tag));
    }

    [Fact]
    public async Task Without_a_registry_the_image_is_an_oci_layout_on_disk_that_skopeo_reads_and_release_json_describes_it()
    {
        bases.Require();
        var workspace = await SampleWorkspace.CreateAsync();
        var commit = await workspace.GitAsync("rev-parse", "HEAD");
        var publish = await workspace.PublishWithResultsAsync(["-p:ContainerBaseImage=scratch"], Outputs);
        Assert.True(publish.Process.ExitCode == 0, publish.Process.Output);

        var manifestPath = publish["ImmutableReleaseManifest"];
        Assert.True(Path.IsPathRooted(manifestPath) && File.Exists(manifestPath), manifestPath);
        var text = await File.ReadAllTextAsync(manifestPath);
        using var release = JsonDocument.Parse(text);
        var root = release.RootElement;
        Assert.Equal(1, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal("hello-immutable", root.GetProperty("app").GetString());
        Assert.Equal(commit, root.GetProperty("source").GetProperty("commit").GetString());
        Assert.False(root.GetProperty("source").GetProperty("dirty").GetBoolean());
        Assert.True(root.GetProperty("image").GetProperty("reproducible").GetBoolean());
        Assert.Equal(publish["ImmutableImageDigest"], root.GetProperty("image").GetProperty("digest").GetString());
        Assert.Equal(publish["ImmutableImageDigest"]["sha256:".Length..], root.GetProperty("provenance").GetProperty("subject")[0].GetProperty("digest").GetProperty("sha256").GetString());
        Assert.DoesNotContain(workspace.Root, text, StringComparison.Ordinal);

        var layout = Path.Combine(Path.GetDirectoryName(manifestPath)!, root.GetProperty("image").GetProperty("outputs").GetProperty("ociLayout").GetString()!);
        var inspect = await ProcessRunner.RunAsync("skopeo", ["inspect", $"oci:{layout}:{commit[..12]}"], timeout: TimeSpan.FromMinutes(1));
        inspect.EnsureSuccess("skopeo inspect");
        using var inspected = JsonDocument.Parse(inspect.StandardOutput);
        Assert.Equal(publish["ImmutableImageDigest"], inspected.RootElement.GetProperty("Digest").GetString());
    }

    [Fact]
    public async Task A_dirty_tree_gets_a_content_tag_and_a_warning()
    {
        bases.Require();
        var workspace = await SampleWorkspace.CreateAsync();
        var commit = await workspace.GitAsync("rev-parse", "HEAD");
        await File.WriteAllTextAsync(Path.Combine(workspace.ProjectDir, "Notes.txt"), "uncommitted");
        var publish = await workspace.PublishWithResultsAsync(["-p:ContainerBaseImage=scratch"], Outputs);
        Assert.True(publish.Process.ExitCode == 0, publish.Process.Output);
        Assert.Equal($"{commit[..12]}-dirty-{publish["ImmutableImageDigest"]["sha256:".Length..][..8]}", publish["ImmutableReleaseId"]);
        Assert.Contains("warning IMB", publish.Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Outside_git_without_a_revision_the_publish_fails_with_IMB1001_and_writes_no_release()
    {
        bases.Require();
        var workspace = await SampleWorkspace.CreateAsync(git: false);
        var outside = new Dictionary<string, string?> { ["GIT_CEILING_DIRECTORIES"] = workspace.Root, ["GITHUB_SHA"] = null, ["CI_COMMIT_SHA"] = null, ["BUILD_SOURCEVERSION"] = null };
        var publish = await workspace.PublishWithResultsAsync(["-p:ContainerBaseImage=scratch"], Outputs, outside);
        Assert.NotEqual(0, publish.Process.ExitCode);
        Assert.Contains("IMB1001", publish.Process.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(workspace.ProjectDir, "bin", "Release", "net10.0", "immutable", "release.json")));

        var withRevision = await workspace.PublishWithResultsAsync(["-p:ContainerBaseImage=scratch", $"-p:ImmutableSourceRevision={new string('c', 40)}"], Outputs, outside);
        Assert.True(withRevision.Process.ExitCode == 0, withRevision.Process.Output);
        Assert.Equal("cccccccccccc", withRevision["ImmutableReleaseId"]);
    }

    [Fact]
    public async Task With_the_sdk_engine_the_release_is_recorded_from_the_sdk_digest_and_marked_not_reproducible()
    {
        bases.Require();
        var workspace = await SampleWorkspace.CreateAsync();
        var repository = NewRepository("sdk");
        var commit = await workspace.GitAsync("rev-parse", "HEAD");
        var publish = await workspace.PublishWithResultsAsync(
            ["-t:PublishContainer", .. PushArgs(repository)],
            ["GeneratedContainerDigest", .. Outputs],
            new Dictionary<string, string?> { ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = Registry.Address });
        Assert.True(publish.Process.ExitCode == 0, publish.Process.Output);
        Assert.Equal(publish["GeneratedContainerDigest"], publish["ImmutableImageDigest"]);
        Assert.Equal(publish["GeneratedContainerDigest"], await Registry.TagDigestAsync(repository, commit[..12]));
        using var release = JsonDocument.Parse(await File.ReadAllTextAsync(publish["ImmutableReleaseManifest"]));
        Assert.False(release.RootElement.GetProperty("image").GetProperty("reproducible").GetBoolean());
        Assert.Equal("sdk", release.RootElement.GetProperty("image").GetProperty("engine").GetString());

        // Its image names the app, as the Immutable engine's do (so the Docker target recognises a container started by hand).
        var inspected = await ProcessRunner.RunAsync("skopeo", ["inspect", "--tls-verify=false", $"docker://{Registry.Address}/{repository}@{publish["GeneratedContainerDigest"]}"], timeout: TimeSpan.FromMinutes(1));
        using (var config = JsonDocument.Parse(inspected.EnsureSuccess("skopeo inspect").StandardOutput))
        {
            Assert.Equal(release.RootElement.GetProperty("app").GetString(), config.RootElement.GetProperty("Labels").GetProperty("immutable.app").GetString());
        }

        // The guard applies to the SDK's engine too: its next image has another digest, so the tag is refused.
        var again = await workspace.PublishWithResultsAsync(
            ["-t:PublishContainer", .. PushArgs(repository)],
            ["GeneratedContainerDigest", .. Outputs],
            new Dictionary<string, string?> { ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = Registry.Address });
        Assert.NotEqual(0, again.Process.ExitCode);
        Assert.Contains("IMB2", again.Process.Output, StringComparison.Ordinal);
        Assert.Equal(publish["GeneratedContainerDigest"], await Registry.TagDigestAsync(repository, commit[..12]));
    }

    [Fact]
    public async Task User_tags_are_honoured_moving_tags_move_and_a_docker_archive_and_a_layout_base_are_supported()
    {
        bases.Require();
        var workspace = await SampleWorkspace.CreateAsync();
        var repository = NewRepository("tags");
        var archive = Path.Combine(workspace.Root, "out", "app.tar");
        var first = await workspace.PublishWithResultsAsync(
            [.. PushArgs(repository), "-p:ContainerImageTags=\"1.0.0;release-1\"", "-p:ImmutableMovingTags=staging", $"-p:ContainerArchiveOutputPath={archive}"],
            Outputs);
        Assert.True(first.Process.ExitCode == 0, first.Process.Output);
        Assert.Equal(["1.0.0", "release-1"], first.Items["ImmutableReleaseTag"]);
        Assert.Equal("1.0.0", first["ImmutableReleaseId"]);
        Assert.Equal(["1.0.0", "release-1", "staging"], await Registry.TagsAsync(repository));
        Assert.Equal(first["ImmutableImageDigest"], await Registry.TagDigestAsync(repository, "staging"));
        var loaded = await ProcessRunner.RunAsync("skopeo", ["inspect", $"docker-archive:{archive}"], timeout: TimeSpan.FromMinutes(1));
        loaded.EnsureSuccess("skopeo inspect docker-archive");
        var archiveManifest = await ProcessRunner.RunAsync("tar", ["-xOf", archive, "manifest.json"], timeout: TimeSpan.FromMinutes(1));
        Assert.Contains($"\"{Registry.Address}/{repository}:1.0.0\"", archiveManifest.EnsureSuccess("tar").StandardOutput, StringComparison.Ordinal);

        // After a commit, the moving tag follows; the immutable tags stay where they were.
        await File.AppendAllTextAsync(Path.Combine(workspace.ProjectDir, "Greeting.cs"), "// another commit\n");
        await workspace.CommitAllAsync("move");
        var second = await workspace.PublishWithResultsAsync([.. PushArgs(repository), "-p:ContainerImageTags=1.0.1", "-p:ImmutableMovingTags=staging"], Outputs);
        Assert.True(second.Process.ExitCode == 0, second.Process.Output);
        Assert.Equal(second["ImmutableImageDigest"], await Registry.TagDigestAsync(repository, "staging"));
        Assert.Equal(first["ImmutableImageDigest"], await Registry.TagDigestAsync(repository, "1.0.0"));

        // A base image from an OCI layout on disk (here: the first image's layout, written without a registry).
        var layoutRelease = await workspace.PublishWithResultsAsync(["-p:ContainerBaseImage=scratch"], Outputs);
        Assert.True(layoutRelease.Process.ExitCode == 0, layoutRelease.Process.Output);
        var layout = Path.Combine(Path.GetDirectoryName(layoutRelease["ImmutableReleaseManifest"])!, "image");
        var onLayout = await workspace.PublishWithResultsAsync(
            [$"-p:ImmutableBaseImageLayout={layout}", $"-p:ContainerBaseImage=base:{layoutRelease["ImmutableReleaseId"]}", $"-p:ImmutableOutputDir={Path.Combine(workspace.Root, "on-layout")}/"],
            Outputs);
        Assert.True(onLayout.Process.ExitCode == 0, onLayout.Process.Output);
        using var release = JsonDocument.Parse(await File.ReadAllTextAsync(onLayout["ImmutableReleaseManifest"]));
        var layers = release.RootElement.GetProperty("image").GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("name").GetString()).ToList();
        Assert.Equal(3, layers.Count(n => n == "base"));
    }

    private static Dictionary<string, DateTime> LayerFileTimes(string dir) =>
        Directory.Exists(dir) ? Directory.EnumerateFiles(dir).ToDictionary(f => f, File.GetLastWriteTimeUtc) : [];

    private static List<string> Layers(JsonDocument manifest) =>
        manifest.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("digest").GetString()!).ToList();
}

/// <summary>Tests that compare the shared registry's whole storage before and after run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class SharedRegistry
{
    /// <summary>The collection's name.</summary>
    public const string Name = "shared registry storage";
}
