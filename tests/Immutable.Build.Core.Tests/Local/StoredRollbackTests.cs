using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Immutable.Build.Deployments;
using Immutable.Build.Images;
using Immutable.Build.Targets;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>
/// Issue 11, item 10: the releases a deploy used stay in the state directory's image store, so deleting the OCI
/// layouts under bin/ (rm -rf bin) does not take the rollback target with them (it was IMB7005).
/// </summary>
[Collection(LocalTargetCollection.Name)]
public sealed class StoredRollbackTests(SampleReleaseFixture sample) : LocalTargetTestBase(sample)
{
    private const int Port = 5381;

    [Fact(Timeout = 300_000)]
    public async Task After_A_then_B_and_rm_rf_bin_a_rollback_to_A_reads_it_from_the_store_and_serves_it()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var bin = Path.Combine(Path.GetDirectoryName(StateDirectory)!, "bin");
        var a = Layout(Path.Combine(bin, "a"), Sample.Release with { ReleaseId = "a" });
        var b = await DerivedAsync(Path.Combine(bin, "b"), a);
        Assert.NotEqual(a.ImageDigest, b.ImageDigest);

        // Retain 0: the target keeps only the current release unpacked, so the rollback must read A's image again.
        var first = await Deployer.DeployAsync(Options(), a, ReleaseLog.None, Ct);
        Assert.True(first.Succeeded, first.Reason);
        var second = await Deployer.DeployAsync(Options(), b, ReleaseLog.None, Ct);
        Assert.True(second.Succeeded, second.Reason);
        Assert.False(Directory.Exists(Target.ReleaseDirectory(Digest.Parse(a.ImageDigest))), "A is pruned from the target");

        Directory.Delete(bin, recursive: true);
        var rollback = await Deployer.RollbackAsync(Options(), null, ReleaseLog.None, Ct);

        Assert.True(rollback.Succeeded, rollback.Reason);
        Assert.Equal((a.ReleaseId, a.ImageDigest), (rollback.Release.ReleaseId, rollback.Release.ImageDigest));
        Assert.Equal(ImageStore.In(StateDirectory).Source, rollback.Release.ImageSource);
        Assert.Equal(("a", null), await VersionAsync(new Uri($"http://127.0.0.1:{Port}/")));

        // And forward again, to B (pruned from the target by nothing yet, but its layout is gone too).
        var forward = await Deployer.RollbackAsync(Options(), "b", ReleaseLog.None, Ct);
        Assert.True(forward.Succeeded, forward.Reason);
        Assert.Equal(("b", null), await VersionAsync(new Uri($"http://127.0.0.1:{Port}/")));
    }

    private DeploymentOptions Options() => new()
    {
        App = Scope.App,
        Environment = Scope.Environment,
        Target = LocalTargetProvider.TargetName,
        StateDirectory = StateDirectory,
        HostAssembly = SampleReleaseFixture.HostAssembly,
        TargetSettings = new Dictionary<string, string> { [LocalTargetProvider.PortProperty] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        Retain = 0,
        GetEnvironmentVariable = _ => null,
    };

    // A copy of the sample's layout of its own, so the test can delete it.
    private ReleaseRef Layout(string folder, ReleaseRef release)
    {
        foreach (var file in Directory.EnumerateFiles(Sample.LayoutDirectory, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(folder, Path.GetRelativePath(Sample.LayoutDirectory, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }

        return release with { ImageSource = "oci:" + folder };
    }

    // The same app with one more small layer: another digest that runs the same.
    private async Task<ReleaseRef> DerivedAsync(string folder, ReleaseRef from)
    {
        var source = Layout(folder, from);
        var blobs = Path.Combine(folder, "blobs", "sha256");
        var manifest = ImageJson.ParseManifest(await File.ReadAllBytesAsync(Path.Combine(blobs, Digest.Parse(from.ImageDigest).Hex), Ct));
        var config = ImageJson.ParseConfig(await File.ReadAllBytesAsync(Path.Combine(blobs, Digest.Parse(manifest.Config.Digest).Hex), Ct));
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "release-b.txt") { DataStream = new MemoryStream(Encoding.UTF8.GetBytes("b")), Mode = (UnixFileMode)0x1A4 });
        }

        var gz = new MemoryStream();
        using (var gzip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(tar.ToArray());
        }

        var layer = Blob(blobs, gz.ToArray(), MediaTypes.OciLayerGzip);
        var newConfig = Blob(blobs, ImageJson.Serialize(config with { RootFs = config.RootFs with { DiffIds = [.. config.RootFs.DiffIds, Digest.Of(tar.ToArray()).Value] } }), manifest.Config.MediaType);
        var newManifest = Blob(blobs, ImageJson.Serialize(manifest with { Config = newConfig, Layers = [.. manifest.Layers, layer] }), manifest.MediaType ?? MediaTypes.OciManifest);
        await File.WriteAllBytesAsync(Path.Combine(folder, "index.json"), ImageJson.Serialize(new ImageIndex { MediaType = MediaTypes.OciIndex, Manifests = [newManifest] }), Ct);
        return source with { ReleaseId = "b", ImageDigest = newManifest.Digest, ImageReference = $"hello-immutable@{newManifest.Digest}" };
    }

    private static Descriptor Blob(string blobs, byte[] content, string mediaType)
    {
        var digest = Digest.Of(content);
        File.WriteAllBytes(Path.Combine(blobs, digest.Hex), content);
        return new Descriptor(mediaType, digest.Value, content.Length);
    }
}
