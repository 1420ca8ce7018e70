using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Immutable.Build.Core.Tests.Releases;
using Immutable.Build.Core.Tests.Rollout;
using Immutable.Build.Releases;
using Immutable.Build.Rollout;
using Immutable.Build.State;

namespace Immutable.Build.Core.Tests.Kernel;

/// <summary>
/// Issue 14: the release output and the state directory on a disk that runs out of space part-way. The kernel refuses
/// the write (a real tmpfs, <see cref="SmallDisk"/>); what must come out is IMB0020 naming the file, no temporary or
/// half-written file, a journal and ledger that still read back (only whole, checksummed lines added), and a next run
/// that succeeds once there is space again.
/// </summary>
public sealed class FullDiskTests : IDisposable
{
    private readonly ReleaseProject _project = new();
    private readonly SmallDisk _disk = SmallDisk.Mount();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _disk.Dispose();
        _project.Dispose();
    }

    /// <param name="leave">Bytes left free: none (the first layer write fails), part of the new app layer (it fails half-way), or the layer but not its copy into the OCI layout.</param>
    [Theory]
    [InlineData(0)]
    [InlineData(200 * 1024)]
    [InlineData(640 * 1024)]
    public async Task A_release_that_runs_out_of_disk_is_IMB0020_and_leaves_no_release_json_no_temp_file_and_a_valid_layout(int leave)
    {
        var output = Path.Combine(_disk.Root, "out");
        var request = _project.Request with { OutputDirectory = output, LayerCacheDirectory = Path.Combine(output, "layers") };
        await ReleasePipeline.RunAsync(request, ReleaseLog.None, Ct);
        var indexBefore = await File.ReadAllBytesAsync(Path.Combine(output, "image", "index.json"), Ct);

        // The next commit, with an app that does not compress: its layer is as big as it is, so the space it needs is known.
        request = request with { SourceRevision = ReleaseProject.OtherCommit };
        var app = new byte[400 * 1024];
        Random.Shared.NextBytes(app);
        await File.WriteAllBytesAsync(Path.Combine(_project.PublishDirectory, "App.dll"), app, Ct);
        _disk.FillLeaving(leave);

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => ReleasePipeline.RunAsync(request, ReleaseLog.None, Ct));
        Assert.Equal(GeneralErrors.DiskFull, e.Code);
        Assert.Contains("The disk is full", e.Message, StringComparison.Ordinal);
        Assert.Contains(output, e.Message, StringComparison.Ordinal);

        Assert.False(File.Exists(Path.Combine(output, "release.json")), "a release.json was left by the failed release");
        AssertNoTempFiles();
        AssertLayoutValid(Path.Combine(output, "image"));
        AssertBlobsWhole(Path.Combine(output, "layers", "sha256"));
        // The failure came before the index was rewritten: the layout names the last release, whole.
        Assert.Equal(indexBefore, await File.ReadAllBytesAsync(Path.Combine(output, "image", "index.json"), Ct));

        // With space again the same release goes through over what the failed one left.
        _disk.Empty();
        var result = await ReleasePipeline.RunAsync(request, ReleaseLog.None, Ct);
        Assert.Equal(result.Digest, ReleaseManifestFile.Read(Path.Combine(output, "release.json")).Image.Digest);
        AssertLayoutValid(Path.Combine(output, "image"));
        AssertNoTempFiles();
    }

    [Fact]
    public async Task A_ledger_append_on_a_full_disk_is_IMB0020_takes_back_the_part_that_fit_and_lets_the_lock_go()
    {
        using var store = new FileStateStore(Path.Combine(_disk.Root, "state"));
        var scope = "hello.test";
        for (var i = 0; i < 5; i++)
        {
            await store.AppendAsync(scope, StateLog.Ledger, Record(i, 100), Ct);
        }

        var ledger = Path.Combine(store.ScopeDirectory(scope), "ledger.jsonl");
        var before = await File.ReadAllBytesAsync(ledger, Ct);
        await using (await store.AcquireLockAsync(scope, new LockRequest("deploy", TimeSpan.FromSeconds(1)), Ct))
        {
        }

        _disk.FillLeaving(0);
        // Bigger than the rest of the file's last page: part of it fits there, the rest is refused.
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => store.AppendAsync(scope, StateLog.Ledger, Record(5, 8000), Ct));
        Assert.Equal(GeneralErrors.DiskFull, e.Code);
        Assert.Contains(ledger, e.Message, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllBytesAsync(ledger, Ct));

        // The lock's holder note does not fit either: IMB0020, and the lock is not kept by the rollout that could not start.
        var locked = await Assert.ThrowsAsync<ImmutableBuildException>(() => store.AcquireLockAsync(scope, new LockRequest("deploy", TimeSpan.FromSeconds(1)), Ct));
        Assert.Equal(GeneralErrors.DiskFull, locked.Code);
        AssertNoTempFiles();

        _disk.Empty();
        await using (await store.AcquireLockAsync(scope, new LockRequest("deploy", TimeSpan.FromMilliseconds(300)), Ct))
        {
            await store.AppendAsync(scope, StateLog.Ledger, Record(5, 8000), Ct);
        }

        var lines = await store.ReadAsync(scope, StateLog.Ledger, Ct);
        Assert.Equal(6, lines.Count);
        Assert.All(lines, l => Assert.Equal(LineCondition.Whole, SealedRecord.Open(l, out _)));
    }

    /// <param name="leave">None: the lock's holder note is refused first. Two pages: the lock is taken and the journal's appends run out part-way.</param>
    [Theory]
    [InlineData(0)]
    [InlineData(8192)]
    public async Task A_deploy_on_a_full_state_disk_is_IMB0020_adds_only_whole_lines_and_the_next_deploy_converges(int leave)
    {
        var state = Path.Combine(_disk.Root, "state");
        var target = new InMemoryTarget();
        var warnings = new List<string>();
        var engine = new RolloutEngine(target, RolloutTestKit.Options(state, warnings));
        var scope = RolloutTestKit.Scope();
        Assert.Equal(RolloutOutcomes.Succeeded, (await engine.DeployAsync(scope, RolloutTestKit.Release("r1"), RolloutStrategy.BlueGreen(1), Ct)).Outcome);
        var folder = Path.Combine(state, "rollouts", scope.Key);
        var journal = await File.ReadAllBytesAsync(Path.Combine(folder, "journal.jsonl"), Ct);
        var ledger = await File.ReadAllBytesAsync(Path.Combine(folder, "ledger.jsonl"), Ct);

        _disk.FillLeaving(leave);
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => engine.DeployAsync(scope, RolloutTestKit.Release("r2"), RolloutStrategy.BlueGreen(1), Ct));
        Assert.Equal(GeneralErrors.DiskFull, e.Code);
        Assert.Contains(folder, e.Message, StringComparison.Ordinal);
        AssertOnlyWholeLinesAdded(journal, Path.Combine(folder, "journal.jsonl"));
        AssertOnlyWholeLinesAdded(ledger, Path.Combine(folder, "ledger.jsonl"));
        AssertNoTempFiles();
        if (leave > 0)
        {
            Assert.True(new FileInfo(Path.Combine(folder, "journal.jsonl")).Length > journal.Length, "the rollout never got as far as its journal: the case tests only the lock");
        }

        _disk.Empty();
        warnings.Clear();
        Assert.Equal(RolloutOutcomes.Succeeded, (await engine.DeployAsync(scope, RolloutTestKit.Release("r2"), RolloutStrategy.BlueGreen(1), Ct)).Outcome);
        Assert.Equal("r2", (await engine.StatusAsync(scope, repair: false, Ct)).Current?.ReleaseId);
        await RolloutTestKit.AssertServesAsync(target, scope, RolloutTestKit.Release("r2"));
        Assert.DoesNotContain(warnings, w => w.StartsWith(StateErrors.TornTail, StringComparison.Ordinal) || w.StartsWith(StateErrors.CorruptLine, StringComparison.Ordinal));
    }

    private static ReadOnlyMemory<byte> Record(int n, int padding) =>
        SealedRecord.Seal(Encoding.UTF8.GetBytes($"{{\"type\":\"note\",\"n\":{n},\"pad\":\"{new string('x', padding)}\"}}"));

    private static void AssertOnlyWholeLinesAdded(byte[] before, string path)
    {
        var after = File.ReadAllBytes(path);
        Assert.True(after.AsSpan().StartsWith(before), $"{path} no longer starts with what it held before the full disk");
        var added = Encoding.UTF8.GetString(after, before.Length, after.Length - before.Length);
        Assert.True(added.Length == 0 || added.EndsWith('\n'), $"{path} ends on a torn line: {added}");
        foreach (var line in added.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.Equal(LineCondition.Whole, SealedRecord.Open(line, out _));
        }
    }

    private void AssertNoTempFiles()
    {
        var temps = Directory.EnumerateFiles(_disk.Root, "*.tmp", SearchOption.AllDirectories).ToList();
        Assert.True(temps.Count == 0, "temporary files left: " + string.Join(", ", temps));
    }

    /// <summary>Every blob's bytes hash to its name: a blob is either whole or absent.</summary>
    private static void AssertBlobsWhole(string blobs)
    {
        foreach (var file in Directory.Exists(blobs) ? Directory.EnumerateFiles(blobs) : [])
        {
            Assert.Equal(Path.GetFileName(file), Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file))));
        }
    }

    /// <summary>The layout is one an OCI reader takes: its index parses and every manifest, config and layer it names is there, whole.</summary>
    private static void AssertLayoutValid(string layout)
    {
        var blobs = Path.Combine(layout, "blobs", "sha256");
        AssertBlobsWhole(blobs);
        Assert.True(File.Exists(Path.Combine(layout, "oci-layout")));
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(layout, "index.json")));
        var manifests = index.RootElement.GetProperty("manifests").EnumerateArray().ToList();
        Assert.NotEmpty(manifests);
        foreach (var entry in manifests)
        {
            var manifestPath = Path.Combine(blobs, entry.GetProperty("digest").GetString()!["sha256:".Length..]);
            Assert.True(File.Exists(manifestPath), $"the index names a manifest that is not there: {manifestPath}");
            using var manifest = JsonDocument.Parse(File.ReadAllBytes(manifestPath));
            foreach (var blob in manifest.RootElement.GetProperty("layers").EnumerateArray().Append(manifest.RootElement.GetProperty("config")))
            {
                var path = Path.Combine(blobs, blob.GetProperty("digest").GetString()!["sha256:".Length..]);
                Assert.True(File.Exists(path) && new FileInfo(path).Length == blob.GetProperty("size").GetInt64(), $"the manifest names a blob that is missing or short: {path}");
            }
        }
    }
}
