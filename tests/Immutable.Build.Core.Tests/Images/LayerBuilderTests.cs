using System.IO.Compression;
using System.Security.Cryptography;
using Immutable.Build.Images;
using static Immutable.Build.Core.Tests.Images.ImageTestSupport;

namespace Immutable.Build.Core.Tests.Images;

public sealed class LayerBuilderTests
{
    private static string MakePublishDir(string name)
    {
        var root = NewDir(name);
        WriteFile(root, "packages/Newtonsoft.Json.dll", new string('n', 50_000));
        WriteFile(root, "refs/Lib.dll", "library");
        WriteFile(root, "app/HelloImmutable.dll", "app v1");
        WriteFile(root, "app/HelloImmutable", "#!/bin/sh\n", executable: true);
        WriteFile(root, "app/wwwroot/index.html", "<html></html>");
        return root;
    }

    private static LayerSpec[] Specs(string root) =>
    [
        new("packages", FilesUnder(Path.Combine(root, "packages"), "app"), CommitTime),
        new("project-references", FilesUnder(Path.Combine(root, "refs"), "app"), CommitTime),
        new("app", FilesUnder(Path.Combine(root, "app"), "app"), CommitTime),
    ];

    [Fact]
    public async Task Same_inputs_give_the_same_layer_bytes_digest_and_diff_id_across_machines_states()
    {
        var a = MakePublishDir("layer-a");
        var b = MakePublishDir("layer-b");
        foreach (var f in Directory.EnumerateFiles(b, "*", SearchOption.AllDirectories))
        {
            File.SetLastWriteTimeUtc(f, new DateTime(2010, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        }

        var first = await new LayerBuilder(NewDir("cache-a")).BuildAsync(Specs(a)[2], Ct);
        var second = await new LayerBuilder(NewDir("cache-b")).BuildAsync(Specs(b)[2], Ct);
        Assert.False(first.Reused);
        Assert.False(second.Reused);
        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(first.DiffId, second.DiffId);
        Assert.Equal(await File.ReadAllBytesAsync(first.Path, Ct), await File.ReadAllBytesAsync(second.Path, Ct));
        Assert.Equal(3, first.FileCount);
        Assert.Equal(MediaTypes.OciLayerGzip, first.MediaType);
    }

    [Fact]
    public async Task Layer_is_valid_gzip_with_a_fixed_header_and_the_digests_describe_its_bytes()
    {
        var layer = await new LayerBuilder(NewDir("cache-gz")).BuildAsync(Specs(MakePublishDir("layer-gz"))[0], Ct);
        await RunAsync("gzip", "-t", layer.Path);

        var bytes = await File.ReadAllBytesAsync(layer.Path, Ct);
        Assert.Equal(new byte[] { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255 }, bytes[..10]);
        Assert.Equal(layer.Size, bytes.Length);
        Assert.Equal(layer.Digest, Digest.Of(bytes));

        await using var gunzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var tar = new MemoryStream();
        await gunzip.CopyToAsync(tar, Ct);
        Assert.Equal(layer.UncompressedSize, tar.Length);
        Assert.Equal(layer.DiffId, Digest.FromHash(SHA256.HashData(tar.ToArray())));
    }

    [Fact]
    public async Task Unchanged_sources_reuse_the_cached_layer_without_rewriting_it()
    {
        var root = MakePublishDir("layer-reuse");
        var builder = new LayerBuilder(NewDir("cache-reuse"));
        var first = await builder.BuildAsync(Specs(root)[2], Ct);
        var old = new DateTime(2020, 5, 5, 5, 5, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(first.Path, old);

        var second = await builder.BuildAsync(Specs(root)[2], Ct);
        Assert.True(second.Reused);
        Assert.Equal(first with { Reused = true }, second);
        Assert.Equal(old, File.GetLastWriteTimeUtc(second.Path));
    }

    [Fact]
    public async Task Changing_one_file_rebuilds_only_its_layer()
    {
        var root = MakePublishDir("layer-change");
        var builder = new LayerBuilder(NewDir("cache-change"));
        var before = new List<BuiltLayer>();
        foreach (var spec in Specs(root))
        {
            before.Add(await builder.BuildAsync(spec, Ct));
        }

        WriteFile(root, "app/HelloImmutable.dll", "app v2");
        File.SetLastWriteTimeUtc(Path.Combine(root, "app/HelloImmutable.dll"), DateTime.UtcNow.AddMinutes(1));
        var after = new List<BuiltLayer>();
        foreach (var spec in Specs(root))
        {
            after.Add(await builder.BuildAsync(spec, Ct));
        }

        Assert.Equal([true, true, false], after.Select(l => l.Reused));
        Assert.Equal(before[0].Digest, after[0].Digest);
        Assert.Equal(before[1].Digest, after[1].Digest);
        Assert.NotEqual(before[2].Digest, after[2].Digest);
        Assert.NotEqual(before[2].DiffId, after[2].DiffId);
    }

    [Fact]
    public async Task A_touched_file_is_layered_again_but_gives_the_same_digest()
    {
        var root = MakePublishDir("layer-touch");
        var builder = new LayerBuilder(NewDir("cache-touch"));
        var first = await builder.BuildAsync(Specs(root)[2], Ct);
        File.SetLastWriteTimeUtc(Path.Combine(root, "app/HelloImmutable.dll"), DateTime.UtcNow.AddHours(1));
        var second = await builder.BuildAsync(Specs(root)[2], Ct);
        Assert.False(second.Reused);
        Assert.Equal(first.Digest, second.Digest);
    }

    [Fact]
    public async Task A_different_timestamp_is_a_different_layer()
    {
        var root = MakePublishDir("layer-time");
        var builder = new LayerBuilder(NewDir("cache-time"));
        var first = await builder.BuildAsync(Specs(root)[1], Ct);
        var later = await builder.BuildAsync(Specs(root)[1] with { Timestamp = CommitTime.AddDays(1) }, Ct);
        Assert.False(later.Reused);
        Assert.NotEqual(first.DiffId, later.DiffId);
    }

    [Fact]
    public async Task Prune_keeps_only_the_layers_in_use()
    {
        var root = MakePublishDir("layer-prune");
        var builder = new LayerBuilder(NewDir("cache-prune"));
        var old = await builder.BuildAsync(Specs(root)[2], Ct);
        WriteFile(root, "app/HelloImmutable.dll", "app v2, longer");
        var current = await builder.BuildAsync(Specs(root)[2], Ct);
        Assert.Equal(1, builder.Prune([current]));
        Assert.False(File.Exists(old.Path));
        Assert.True(File.Exists(current.Path));
        Assert.True((await builder.BuildAsync(Specs(root)[2], Ct)).Reused);
    }

    [Fact]
    public async Task A_layer_of_several_pipe_blocks_has_the_bytes_of_tar_then_gzip_in_one_stream_and_the_trailer_zlib_writes()
    {
        // Sizes that end inside a block, on a block boundary and across many blocks: the staged build must give
        // byte for byte what tar -> gzip gives written straight into one stream.
        var root = NewDir("layer-blocks");
        var noise = new byte[(3 << 20) + 12345];
        new Random(15).NextBytes(noise);
        Directory.CreateDirectory(Path.Combine(root, "app"));
        await File.WriteAllBytesAsync(Path.Combine(root, "app", "noise.bin"), noise, Ct);
        await File.WriteAllBytesAsync(Path.Combine(root, "app", "block.bin"), noise[..(1 << 20)], Ct);
        WriteFile(root, "app/text.txt", new string('t', 70_000));
        var spec = new LayerSpec("app", FilesUnder(Path.Combine(root, "app"), "app"), CommitTime);
        var layer = await new LayerBuilder(NewDir("cache-blocks")).BuildAsync(spec, Ct);

        var tarWriter = new DeterministicTarWriter(CommitTime);
        foreach (var f in spec.Files)
        {
            tarWriter.Add(TarEntry.FromDisk(f.SourcePath, f.PathInImage));
        }

        using var tar = new MemoryStream();
        await tarWriter.WriteToAsync(tar, Ct);
        using var expected = new MemoryStream();
        await using (var gzip = new GzipWriteStream(expected, CompressionLevel.Optimal, leaveOpen: true))
        {
            await gzip.WriteAsync(tar.ToArray(), Ct);
            await gzip.FinishAsync(Ct);
        }

        var built = await File.ReadAllBytesAsync(layer.Path, Ct);
        Assert.Equal(expected.ToArray(), built);
        Assert.Equal(Digest.Of(tar.ToArray()), layer.DiffId);

        // The CRC-32 and length trailer is the one zlib computes for the same tar.
        using var zlib = new MemoryStream();
        await using (var gz = new GZipStream(zlib, CompressionLevel.Fastest, leaveOpen: true))
        {
            await gz.WriteAsync(tar.ToArray(), Ct);
        }

        Assert.Equal(zlib.ToArray()[^8..], built[^8..]);
    }

    [Fact]
    public async Task A_missing_source_is_reported_with_its_path()
    {
        var spec = new LayerSpec("app", [new LayerFile(Path.Combine(NewDir("layer-missing"), "nope.dll"), "app/nope.dll")], CommitTime);
        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => new LayerBuilder(NewDir("cache-missing")).BuildAsync(spec, Ct));
        Assert.Equal("IMB3005", error.Code);
        Assert.Contains("nope.dll", error.Message, StringComparison.Ordinal);
    }
}
