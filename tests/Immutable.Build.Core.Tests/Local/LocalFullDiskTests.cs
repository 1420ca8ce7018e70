using Immutable.Build.Core.Tests.Kernel;
using Immutable.Build.Deployments;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>
/// Issue 14: a local deploy whose state directory (image store, unpacked releases, journal, ledger, host files) is on
/// a disk that fills up: IMB0020 naming where, nothing half-copied or half-unpacked left, and the same deploy goes
/// through once there is space. <see cref="FullDiskTests"/> has the release output and the rollout state alone.
/// </summary>
[Collection(LocalTargetCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LocalFullDiskTests(SampleReleaseFixture sample) : IAsyncLifetime
{
    private static readonly DeploymentScope Scope = new("hello-immutable", "full-disk");
    private readonly SmallDisk _disk = SmallDisk.Mount("16m");

    private string State => Path.Combine(_disk.Root, "state");

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        await LocalHostControl.StopAsync(State, TimeSpan.FromSeconds(5), CancellationToken.None);
        _disk.Dispose();
    }

    /// <param name="spare">Bytes left beyond what the host needs to start: none (the image store copy fails), or the image but not its unpacked files.</param>
    [Theory(Timeout = 240_000)]
    [InlineData(0)]
    [InlineData(1)]
    public async Task A_local_deploy_that_runs_out_of_disk_is_IMB0020_leaves_nothing_half_written_and_goes_through_with_space(int spare)
    {
        var ct = TestContext.Current.CancellationToken;
        var target = new LocalTarget(new LocalTargetOptions(State, SampleReleaseFixture.HostAssembly, ProxyPort: 0) { StopGrace = TimeSpan.FromSeconds(5) });
        var engine = new RolloutEngine(target, new RolloutEngineOptions { StateDirectory = State, StartTimeout = TimeSpan.FromSeconds(60), Drain = TimeSpan.Zero, GetEnvironmentVariable = _ => null });
        // The host and its files first, so that what fills up is the deploy's own writing.
        using (await LocalHostControl.ConnectOrStartAsync(new LocalTargetOptions(State, SampleReleaseFixture.HostAssembly, ProxyPort: 0), ct))
        {
        }

        var image = Directory.EnumerateFiles(sample.LayoutDirectory, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        _disk.FillLeaving(spare == 0 ? 0 : image + 256 * 1024);

        // Out of space for the image store: the deploy stops before it starts. Out of space for the unpack: the host's
        // launch fails, and the rollout rolls back saying why.
        string message;
        try
        {
            using var kept = await ReleaseStore.KeepAsync(State, Scope, sample.Release, ReleaseLog.None, TimeProvider.System, ct);
            Assert.True(spare > 0, "the image store took the release on a full disk");
            var result = await engine.DeployAsync(Scope, kept.Release, RolloutStrategy.BlueGreen(1), ct);
            Assert.NotEqual(RolloutOutcomes.Succeeded, result.Outcome);
            message = result.Reason ?? "";
            Assert.Contains(Path.Combine(State, "releases"), message, StringComparison.Ordinal);
        }
        catch (ImmutableBuildException e) when (spare == 0)
        {
            Assert.True(e.Code == GeneralErrors.DiskFull, $"{e.Code}: {e.Message}");
            message = e.Message;
            Assert.Contains(Path.Combine(State, "images"), message, StringComparison.Ordinal);
        }

        Assert.Contains("The disk is full", message, StringComparison.Ordinal);
        Assert.DoesNotContain(".tmp", message, StringComparison.Ordinal);
        var leftovers = Directory.EnumerateFileSystemEntries(State, "*", SearchOption.AllDirectories)
            .Where(p => Path.GetFileName(p).EndsWith(".tmp", StringComparison.Ordinal) || Path.GetFileName(p).StartsWith(".tmp-", StringComparison.Ordinal)).ToList();
        Assert.True(leftovers.Count == 0, "half-written files left: " + string.Join(", ", leftovers));

        _disk.Empty();
        using (var kept = await ReleaseStore.KeepAsync(State, Scope, sample.Release, ReleaseLog.None, TimeProvider.System, ct))
        {
            Assert.Equal(RolloutOutcomes.Succeeded, (await engine.DeployAsync(Scope, kept.Release, RolloutStrategy.BlueGreen(1), ct)).Outcome);
        }

        var status = await engine.StatusAsync(Scope, repair: false, ct);
        Assert.Equal(sample.Release.ReleaseId, status.Current?.ReleaseId);
        Assert.Empty(status.Drift);
    }
}
