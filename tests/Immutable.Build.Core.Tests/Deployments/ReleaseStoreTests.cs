using System.Formats.Tar;
using Immutable.Build.Core.Tests.Local;
using Immutable.Build.Deployments;
using Immutable.Build.Images;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;

namespace Immutable.Build.Core.Tests.Deployments;

/// <summary>Releases from an OCI layout go through the state directory's store; retention decides what it keeps.</summary>
public sealed class ReleaseStoreTests
{
    private static readonly DeploymentScope Scope = new("hello", "test");

    private readonly string _work = TestEnvironment.NewWorkDir("release-store");

    private string State => Path.Combine(_work, "state");

    [Fact(Timeout = 60_000)]
    public async Task A_layout_release_is_read_from_the_store_even_once_its_layout_is_deleted()
    {
        var ct = TestContext.Current.CancellationToken;
        var release = Release("a");
        var store = ImageStore.In(State);

        using (var kept = await ReleaseStore.KeepAsync(State, Scope, release, ReleaseLog.None, TimeProvider.System, ct))
        {
            Assert.Equal(store.Source, kept.Release.ImageSource);
            Assert.Equal(release with { ImageSource = store.Source }, kept.Release);
        }

        Directory.Delete(release.ImageSource[4..], recursive: true);
        using var again = await ReleaseStore.KeepAsync(State, Scope, release, ReleaseLog.None, TimeProvider.System, ct);

        Assert.Equal(store.Source, again.Release.ImageSource);
        Assert.Equal([release.ImageDigest], store.HeldBy(Scope.Key));
        await new ImageUnpacker().UnpackAsync(again.Release.ImageSource, Digest.Parse(release.ImageDigest), Path.Combine(_work, "unpacked"), ct);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_registry_release_or_one_nothing_holds_is_left_as_it_is()
    {
        var ct = TestContext.Current.CancellationToken;
        var registry = new ReleaseRef("r", "127.0.0.1:5380/hello@" + Release("r").ImageDigest, Release("r").ImageDigest, "127.0.0.1:5380/hello@" + Release("r").ImageDigest, null);
        var gone = Release("g") with { ImageSource = "oci:" + Path.Combine(_work, "nowhere") };

        using var fromRegistry = await ReleaseStore.KeepAsync(State, Scope, registry, ReleaseLog.None, TimeProvider.System, ct);
        using var fromNowhere = await ReleaseStore.KeepAsync(State, Scope, gone, ReleaseLog.None, TimeProvider.System, ct);

        Assert.Same(registry, fromRegistry.Release);
        Assert.Same(gone, fromNowhere.Release);
        Assert.False(Directory.Exists(ImageStore.In(State).Directory));

        // A ledger release whose source is the store but that the store no longer has: IMB3093, naming ImmutableRetain.
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => ReleaseStore.KeepAsync(State, Scope, gone with { ImageSource = ImageStore.In(State).Source }, ReleaseLog.None, TimeProvider.System, ct));
        Assert.Equal("IMB3093", e.Code);
    }

    [Fact(Timeout = 60_000)]
    public async Task Prune_keeps_what_retention_keeps_and_the_plain_rollback_target_and_what_other_scopes_hold()
    {
        var ct = TestContext.Current.CancellationToken;
        var (a, b, c) = (Release("a"), Release("b"), Release("c"));
        foreach (var release in new[] { a, b, c })
        {
            (await ReleaseStore.KeepAsync(State, Scope, release, ReleaseLog.None, TimeProvider.System, ct)).Dispose();
        }

        var other = new DeploymentScope("other", "test");
        (await ReleaseStore.KeepAsync(State, other, a, ReleaseLog.None, TimeProvider.System, ct)).Dispose();
        var ledger = new[] { Success(a), Success(b), Success(c) };

        // Retain 0 keeps only the current release on the target; the store also keeps B, the plain rollback's target.
        await ReleaseStore.PruneAsync(State, Scope, new PruneResult([c], [a, b]), ledger, ReleaseLog.None, TimeProvider.System, ct);

        var store = ImageStore.In(State);
        Assert.Equal(new[] { b.ImageDigest, c.ImageDigest }.Order(), store.HeldBy(Scope.Key).Order());
        Assert.True(store.Contains(Digest.Parse(a.ImageDigest)), "the other scope still holds A");

        await ReleaseStore.PruneAsync(State, other, new PruneResult([], [a]), [], ReleaseLog.None, TimeProvider.System, ct);
        Assert.False(store.Contains(Digest.Parse(a.ImageDigest)));
        Assert.True(store.Contains(Digest.Parse(b.ImageDigest)));
        Assert.True(store.Contains(Digest.Parse(c.ImageDigest)));
    }

    private static LedgerEntry Success(ReleaseRef release) => new() { Release = release, Current = release, Outcome = RolloutOutcomes.Succeeded };

    private ReleaseRef Release(string id)
    {
        var (folder, digest) = HandmadeLayout.Write(Path.Combine(_work, "bin", id), [new HandmadeLayout.Entry($"{id}.txt", TarEntryType.RegularFile, id)]);
        return new ReleaseRef(id, "hello@" + digest, digest.Value, "oci:" + folder, null);
    }
}
