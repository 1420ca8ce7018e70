using Immutable.Build.Core.Tests.Registry;
using Immutable.Build.Releases;

namespace Immutable.Build.Core.Tests.Releases;

/// <summary>
/// The warm-up the check before the compile starts for a no-op rerun: one tag HEAD to the registry the recorded
/// release lives in and this publish goes to, and nothing at all otherwise. The real registry sits behind the tests'
/// own proxy, which is what can say which requests were made.
/// </summary>
public sealed class ReleaseWarmUpTests(RegistryFixture registry) : IDisposable
{
    private readonly ReleaseProject _project = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _project.Dispose();

    [Fact]
    public async Task The_recorded_release_tag_is_asked_for_once_at_the_registry_this_publish_goes_to()
    {
        registry.Require();
        await using var proxy = new RegistryFaultProxy(registry.Address);
        var request = _project.Request with { Registry = proxy.Address, Repository = RegistryTestKit.NewRepository("warmup") };
        var first = await ReleasePipeline.RunAsync(request, new RecordingLog().Log, Ct);
        var before = proxy.Log.Count;

        await ReleasePipeline.WarmUpRerunAsync(request.LayerCacheDirectory, proxy.Address).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        var made = proxy.Log.Skip(before).ToList();
        Assert.Equal([$"{RegistryRequestKind.ManifestHead} HEAD /v2/{request.Repository}/manifests/{first.Tags[0]}"], made);

        // The rerun after it is the no-op one still, and finds what the warm-up found.
        var log = new RecordingLog();
        var second = await ReleasePipeline.RunAsync(request, log.Log, Ct);
        Assert.False(log.DidImageWork, string.Join("\n", log.Detail));
        Assert.Equal(first.Digest, second.Digest);
    }

    [Fact]
    public async Task Another_registry_no_record_or_no_registry_sends_nothing_and_never_throws()
    {
        registry.Require();
        await using var proxy = new RegistryFaultProxy(registry.Address);
        var request = _project.Request with { Registry = proxy.Address, Repository = RegistryTestKit.NewRepository("warmup") };
        await ReleasePipeline.RunAsync(request, new RecordingLog().Log, Ct);
        var before = proxy.Log.Count;

        // The release moved to another registry: the old one is not asked (and this address answers nothing).
        await ReleasePipeline.WarmUpRerunAsync(request.LayerCacheDirectory, "127.0.0.1:9").WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await ReleasePipeline.WarmUpRerunAsync(request.LayerCacheDirectory, null).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await ReleasePipeline.WarmUpRerunAsync(Path.Combine(_project.Root, "no-such-folder"), proxy.Address).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await ReleasePipeline.WarmUpRerunAsync(null, proxy.Address).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        // A record that is junk: read, found wanting, dropped.
        await File.WriteAllTextAsync(_project.ShortcutRecord, "{not json", Ct);
        await ReleasePipeline.WarmUpRerunAsync(request.LayerCacheDirectory, proxy.Address).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(before, proxy.Log.Count);
    }
}
