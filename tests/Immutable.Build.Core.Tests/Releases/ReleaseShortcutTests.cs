using Immutable.Build.Images;
using Immutable.Build.Releases;
using Immutable.Build.Versioning;

namespace Immutable.Build.Core.Tests.Releases;

/// <summary>
/// The no-op rerun: the same commit, files and settings adopt the last release with no image work; anything else
/// takes the full path. Run through <see cref="ReleasePipeline"/> on a fake publish folder, no <c>dotnet publish</c>.
/// </summary>
public sealed class ReleaseShortcutTests : IDisposable
{
    private const string Adopted = "nothing changed since the last publish";
    private readonly ReleaseProject _project = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _project.Dispose();

    private static async Task<(ReleaseResult Result, RecordingLog Log)> RunAsync(ReleaseRequest request)
    {
        var log = new RecordingLog();
        return (await ReleasePipeline.RunAsync(request, log.Log, Ct), log);
    }

    [Fact]
    public async Task A_second_run_with_the_same_inputs_is_adopted_with_no_image_work()
    {
        var (first, firstLog) = await RunAsync(_project.Request);
        var written = _project.OutputSnapshot();

        var (second, log) = await RunAsync(_project.Request);

        Assert.True(firstLog.DidImageWork);
        Assert.DoesNotContain(firstLog.Info, l => l.Contains(Adopted, StringComparison.Ordinal));
        Assert.False(log.DidImageWork, string.Join("\n", log.Detail));
        Assert.Contains(log.Info, l => l.Contains($":{first.ReleaseId} already points at {first.Digest}: adopted, nothing written ({Adopted})", StringComparison.Ordinal));
        Assert.Contains($"release {first.ReleaseId}: {first.Reference}", log.Info);
        Assert.Empty(log.Warnings);
        // Not a byte of the output changed, release.json included.
        Assert.Equal(written, _project.OutputSnapshot());
        Assert.Equal((first.ReleaseId, first.Digest, first.Reference, first.ManifestPath), (second.ReleaseId, second.Digest, second.Reference, second.ManifestPath));
        Assert.Equal(first.Tags, second.Tags);
        Assert.Equal(ReleaseJson.Serialize(first.Manifest), ReleaseJson.Serialize(second.Manifest));
    }

    [Fact]
    public async Task A_rerun_in_another_checkout_with_the_same_inputs_is_adopted_too()
    {
        // The folders are not part of the fingerprint: only what ends up in the image and release.json.
        await RunAsync(_project.Request);
        var moved = _project.Request with { ProjectDirectory = _project.Root, Labels = [new("org.opencontainers.image.created", "2027-01-01T00:00:00Z"), new("team", "web")] };

        var (_, log) = await RunAsync(moved);

        Assert.False(log.DidImageWork);
    }

    [Fact]
    public async Task A_file_rewritten_with_the_same_bytes_is_still_adopted()
    {
        await RunAsync(_project.Request);
        var dll = _project.WritePublish("App.dll", "app v1");
        File.SetLastWriteTimeUtc(dll, DateTime.UtcNow.AddMinutes(5));

        var (_, log) = await RunAsync(_project.Request);

        Assert.False(log.DidImageWork);
    }

    [Fact]
    public async Task A_big_file_is_recorded_without_its_hash_so_only_its_time_can_settle_it()
    {
        // Above 4 MiB a file is not read again for the record: unchanged (same time) it is adopted, touched it is rebuilt.
        var big = _project.WritePublish("data.bin", new string('x', (4 << 20) + 1));
        await RunAsync(_project.Request);
        Assert.Contains("\"data.bin\"", await File.ReadAllTextAsync(_project.ShortcutRecord, Ct), StringComparison.Ordinal);

        var (_, unchanged) = await RunAsync(_project.Request);
        File.SetLastWriteTimeUtc(big, DateTime.UtcNow.AddMinutes(5));
        var (_, touched) = await RunAsync(_project.Request);

        Assert.False(unchanged.DidImageWork);
        Assert.True(touched.DidImageWork);
    }

    [Fact]
    public async Task A_deleted_release_json_is_written_back_as_it_was()
    {
        await RunAsync(_project.Request);
        var recorded = await File.ReadAllTextAsync(_project.ManifestPath, Ct);
        File.Delete(_project.ManifestPath);

        var (_, log) = await RunAsync(_project.Request);

        Assert.False(log.DidImageWork);
        Assert.Equal(recorded, await File.ReadAllTextAsync(_project.ManifestPath, Ct));
    }

    [Fact]
    public async Task A_changed_file_of_the_same_size_is_not_adopted()
    {
        await RunAsync(_project.Request);
        var dll = _project.WritePublish("App.dll", "app v2"); // same length as "app v1"
        // A file system with coarse times could give the rewrite the old time; a build tool's rewrite would not.
        File.SetLastWriteTimeUtc(dll, DateTime.UtcNow.AddMinutes(5));

        // Same commit, other content: the full path runs and the tag guard catches it.
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => RunAsync(_project.Request));

        Assert.Equal("IMB2016", e.Code);
    }

    [Fact]
    public async Task An_added_or_removed_file_is_not_adopted()
    {
        await RunAsync(_project.Request);
        _project.WritePublish("appsettings.json", "{}");

        Assert.Equal("IMB2016", (await Assert.ThrowsAsync<ImmutableBuildException>(() => RunAsync(_project.Request))).Code);

        File.Delete(Path.Combine(_project.PublishDirectory, "appsettings.json"));
        File.Delete(Path.Combine(_project.PublishDirectory, "Greeting.Lib.dll"));
        Assert.Equal("IMB2016", (await Assert.ThrowsAsync<ImmutableBuildException>(() => RunAsync(_project.Request))).Code);
    }

    [Fact]
    public async Task A_changed_setting_takes_the_full_path_and_records_the_new_facts()
    {
        var (first, _) = await RunAsync(_project.Request);

        // The SDK version is not in the image: the full path builds the same digest and adopts the tag.
        var (second, log) = await RunAsync(_project.Request with { SdkVersion = "10.0.200" });

        Assert.True(log.DidImageWork);
        Assert.DoesNotContain(log.Info, l => l.Contains(Adopted, StringComparison.Ordinal));
        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal("10.0.200", ReleaseManifestFile.Read(_project.ManifestPath).Build.SdkVersion);

        // ... and that is the new record: a third run with it is adopted.
        var (_, third) = await RunAsync(_project.Request with { SdkVersion = "10.0.200" });
        Assert.False(third.DidImageWork);
    }

    [Fact]
    public async Task A_layout_that_lost_the_tag_is_written_again()
    {
        var (first, _) = await RunAsync(_project.Request);
        Directory.Delete(_project.LayoutDirectory, recursive: true);

        var (second, log) = await RunAsync(_project.Request);

        Assert.True(log.DidImageWork);
        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(Digest.Parse(first.Digest), LayoutIndex.Tags(_project.LayoutDirectory)[first.ReleaseId]);
    }

    [Fact]
    public async Task A_corrupt_record_takes_the_full_path()
    {
        await RunAsync(_project.Request);
        await File.WriteAllTextAsync(_project.ShortcutRecord, "{ not json", Ct);

        var (_, log) = await RunAsync(_project.Request);

        Assert.True(log.DidImageWork);
        // The full path records the release again for the next run.
        Assert.False((await RunAsync(_project.Request)).Log.DidImageWork);
    }

    [Fact]
    public async Task With_a_docker_archive_the_release_is_never_adopted_and_the_record_is_dropped()
    {
        await RunAsync(_project.Request);
        Assert.True(File.Exists(_project.ShortcutRecord));
        var archive = Path.Combine(_project.Root, "hello.tar");

        var (result, log) = await RunAsync(_project.Request with { ArchiveOutputPath = archive });

        Assert.True(log.DidImageWork);
        Assert.True(File.Exists(archive));
        Assert.Equal("../../../hello.tar", result.Manifest.Image.Outputs["dockerArchive"]);
        Assert.False(File.Exists(_project.ShortcutRecord));
    }

    [Fact]
    public void A_dirty_work_tree_has_no_fingerprint()
    {
        var clean = new SourceRevision(ReleaseProject.Commit, false, ReleaseProject.CommitTime, null, RevisionOrigin.Git);

        Assert.NotNull(ReleaseShortcut.Fingerprint(_project.Request, clean));
        Assert.Null(ReleaseShortcut.Fingerprint(_project.Request, clean with { IsDirty = true }));
    }

    [Fact]
    public void A_missing_publish_folder_has_no_fingerprint()
    {
        var revision = new SourceRevision(ReleaseProject.Commit, false, ReleaseProject.CommitTime, null, RevisionOrigin.Explicit);

        Assert.Null(ReleaseShortcut.Fingerprint(_project.Request with { PublishDirectory = Path.Combine(_project.Root, "none") }, revision));
    }

    [Fact]
    public void The_fingerprint_follows_the_commit_the_settings_and_SOURCE_DATE_EPOCH_but_not_the_folders_or_created_labels()
    {
        var revision = new SourceRevision(ReleaseProject.Commit, false, ReleaseProject.CommitTime, null, RevisionOrigin.Explicit);
        var request = _project.Request;
        var fingerprint = ReleaseShortcut.Fingerprint(request, revision);

        Assert.Equal(fingerprint, ReleaseShortcut.Fingerprint(request with { OutputDirectory = "/elsewhere", LayerCacheDirectory = "/cache", ProjectDirectory = "/p" }, revision));
        Assert.Equal(fingerprint, ReleaseShortcut.Fingerprint(request with { Labels = [new("org.opencontainers.artifact.created", "now"), new("team", "web")] }, revision));
        Assert.NotEqual(fingerprint, ReleaseShortcut.Fingerprint(request, revision with { Commit = ReleaseProject.OtherCommit }));
        Assert.NotEqual(fingerprint, ReleaseShortcut.Fingerprint(request, revision with { RepositoryUrl = "https://example.com/app.git" }));
        Assert.NotEqual(fingerprint, ReleaseShortcut.Fingerprint(request with { Labels = [new("team", "api")] }, revision));
        Assert.NotEqual(fingerprint, ReleaseShortcut.Fingerprint(request with { Repository = "other" }, revision));
        Assert.NotEqual(fingerprint, ReleaseShortcut.Fingerprint(request with { EnvironmentVariables = new Dictionary<string, string?> { ["SOURCE_DATE_EPOCH"] = "1" } }, revision));
    }
}
