using System.Text;
using Immutable.Build.Images;
using static Immutable.Build.Core.Tests.Images.ImageTestSupport;

namespace Immutable.Build.Core.Tests.Images;

public sealed class DeterministicTarWriterTests
{
    private static async Task<byte[]> TarAsync(IEnumerable<TarEntry> entries, DateTimeOffset? time = null)
    {
        var writer = new DeterministicTarWriter(time ?? CommitTime).AddRange(entries);
        using var output = new MemoryStream();
        var summary = await writer.WriteToAsync(output, Ct);
        Assert.Equal(output.Length, summary.Length);
        return output.ToArray();
    }

    private static List<TarEntry> FromDisk(string root) =>
        FilesUnder(root, "app").Select(f => TarEntry.FromDisk(f.SourcePath, f.PathInImage)).ToList();

    private static void MakeSample(string root)
    {
        WriteFile(root, "HelloImmutable.dll", "dll bytes");
        WriteFile(root, "HelloImmutable", "#!/bin/sh\necho hi\n", executable: true);
        WriteFile(root, "wwwroot/css/site.css", "body{}");
        WriteFile(root, "appsettings.json", "{}");
    }

    [Fact]
    public async Task Same_files_give_identical_bytes_whatever_their_mtimes_and_owners_on_disk()
    {
        var a = NewDir("tar-a");
        var b = NewDir("tar-b");
        MakeSample(a);
        MakeSample(b);
        foreach (var f in Directory.EnumerateFiles(a, "*", SearchOption.AllDirectories))
        {
            File.SetLastWriteTimeUtc(f, new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc));
        }

        if (Environment.UserName == "root")
        {
            await RunAsync("chown", "-R", "1234:4321", b);
        }

        var first = await TarAsync(FromDisk(a));
        var second = await TarAsync(FromDisk(b));
        var again = await TarAsync(FromDisk(a).AsEnumerable().Reverse());
        Assert.Equal(first, second);
        Assert.Equal(first, again);
    }

    [Fact]
    public async Task Entries_are_sorted_by_path_with_each_parent_directory_once()
    {
        var root = NewDir("tar-order");
        MakeSample(root);
        WriteFile(root, "wwwroot/a.js", "1");
        var dir = NewDir("tar-order-out");
        var file = Path.Combine(dir, "layer.tar");
        await File.WriteAllBytesAsync(file, await TarAsync(FromDisk(root).Append(TarEntry.Directory("app/wwwroot"))), Ct);

        var listed = (await RunAsync("tar", "-tf", file)).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
        [
            "app/",
            "app/HelloImmutable",
            "app/HelloImmutable.dll",
            "app/appsettings.json",
            "app/wwwroot/",
            "app/wwwroot/a.js",
            "app/wwwroot/css/",
            "app/wwwroot/css/site.css",
        ], listed);
    }

    [Fact]
    public async Task Headers_carry_root_owners_without_names_one_mtime_and_ustar_magic()
    {
        var root = NewDir("tar-headers");
        MakeSample(root);
        var tar = await TarAsync(FromDisk(root));
        var headers = 0;
        for (var at = 0; at + 512 <= tar.Length; at += 512)
        {
            var block = tar.AsSpan(at, 512);
            if (block.IndexOfAnyExcept((byte)0) < 0)
            {
                break;
            }

            headers++;
            Assert.Equal("ustar\0", Encoding.ASCII.GetString(block.Slice(257, 6)));
            Assert.Equal("00", Encoding.ASCII.GetString(block.Slice(263, 2)));
            Assert.Equal("0000000\0", Encoding.ASCII.GetString(block.Slice(108, 8)));
            Assert.Equal("0000000\0", Encoding.ASCII.GetString(block.Slice(116, 8)));
            Assert.True(block.Slice(265, 64).IndexOfAnyExcept((byte)0) < 0, "uname and gname are empty");
            Assert.Equal(Convert.ToString(1_700_000_000L, 8).PadLeft(11, '0') + "\0", Encoding.ASCII.GetString(block.Slice(136, 12)));
            var size = Convert.ToInt64(Encoding.ASCII.GetString(block.Slice(124, 11)), 8);
            at += (int)((size + 511) / 512 * 512);
        }

        Assert.Equal(7, headers); // app/, app/wwwroot/, app/wwwroot/css/ and four files
        Assert.True(tar.AsSpan(tar.Length - 1024).IndexOfAnyExcept((byte)0) < 0, "two zero blocks end the archive");
    }

    [Fact]
    public async Task Long_paths_and_symlinks_round_trip_through_gnu_tar_with_modes_and_mtime()
    {
        var root = NewDir("tar-long");
        var splitPath = string.Join('/', Enumerable.Range(0, 12).Select(i => $"segment{i:00}")) + "/file-name-that-is-long.txt"; // > 100, splits into prefix/name
        var paxPath = string.Join('/', Enumerable.Range(0, 30).Select(i => $"deeper-segment-{i:00}")) + "/" + new string('x', 120) + ".bin"; // no split fits
        var longTarget = string.Join('/', Enumerable.Repeat("..", 10)) + "/" + new string('t', 110);
        Assert.True(Encoding.UTF8.GetByteCount(splitPath) > 100);
        Assert.True(paxPath.Length > 255);
        var normal = WriteFile(root, "normal.txt", "normal");
        var script = WriteFile(root, "run.sh", "#!/bin/sh\n", executable: true);
        var longFile = WriteFile(root, "long-source.txt", "long content");
        File.CreateSymbolicLink(Path.Combine(root, "link"), "normal.txt");
        var entries = new List<TarEntry>
        {
            TarEntry.FromDisk(normal, "app/normal.txt"),
            TarEntry.FromDisk(script, "app/run.sh"),
            TarEntry.FromDisk(Path.Combine(root, "link"), "app/link"),
            TarEntry.FromDisk(longFile, splitPath),
            TarEntry.FromBytes(paxPath, Encoding.UTF8.GetBytes("pax content"), executable: true),
            TarEntry.Symlink("app/far-link", longTarget),
        };
        var dir = NewDir("tar-long-out");
        var tarFile = Path.Combine(dir, "layer.tar");
        await File.WriteAllBytesAsync(tarFile, await TarAsync(entries), Ct);

        var listing = (await RunAsync("tar", "--full-time", "--numeric-owner", "-tvf", tarFile)).StandardOutput
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .ToDictionary(p => p[5], p => p);
        string Mode(string path) => listing[path][0];
        Assert.Equal("-rw-r--r--", Mode("app/normal.txt"));
        Assert.Equal("-rwxr-xr-x", Mode("app/run.sh"));
        Assert.Equal("lrwxrwxrwx", Mode("app/link"));
        Assert.Equal("normal.txt", listing["app/link"][7]);
        Assert.Equal(longTarget, listing["app/far-link"][7]);
        Assert.Equal("-rw-r--r--", Mode(splitPath));
        Assert.Equal("-rwxr-xr-x", Mode(paxPath));
        Assert.Equal("drwxr-xr-x", Mode("app/"));
        Assert.All(listing.Values, p =>
        {
            Assert.Equal("0/0", p[1]);
            Assert.Equal("2023-11-14", p[3]);
            Assert.Equal("22:13:20", p[4]);
        });

        var extracted = NewDir("tar-long-x");
        await RunAsync("tar", "-xf", tarFile, "-C", extracted);
        Assert.Equal("long content", File.ReadAllText(Path.Combine(extracted, splitPath)));
        Assert.Equal("pax content", File.ReadAllText(Path.Combine(extracted, paxPath)));
        Assert.Equal(longTarget, new FileInfo(Path.Combine(extracted, "app/far-link")).LinkTarget);
    }

    [Fact]
    public async Task Pax_header_is_written_only_for_a_name_that_ustar_cannot_hold()
    {
        var shortTar = await TarAsync([TarEntry.FromBytes(string.Join('/', Enumerable.Repeat("abcdefghij", 14)), [1])]);
        Assert.DoesNotContain(Enumerable.Range(0, shortTar.Length / 512), i => shortTar[(i * 512) + 156] == (byte)'x');

        var longName = new string('n', 150);
        var paxTar = await TarAsync([TarEntry.FromBytes(longName, [1])]);
        Assert.Equal((byte)'x', paxTar[156]);
        var records = Encoding.UTF8.GetString(paxTar, 512, 512).TrimEnd('\0');
        Assert.Equal($"{records.Length} path={longName}\n", records);
    }

    [Fact]
    public async Task Rejects_paths_outside_the_root_duplicates_and_files_used_as_directories()
    {
        Assert.Equal("IMB3003", Assert.Throws<ImmutableBuildException>(() => TarEntry.Directory("app/../../etc")).Code);
        Assert.Equal("IMB3003", Assert.Throws<ImmutableBuildException>(() => TarEntry.Directory("/")).Code);
        Assert.Equal("app/x", TarEntry.Directory("/./app//x/").Path);

        var writer = new DeterministicTarWriter(CommitTime).Add(TarEntry.FromBytes("app/a", [1]));
        Assert.Equal("IMB3004", Assert.Throws<ImmutableBuildException>(() => writer.Add(TarEntry.FromBytes("app/a", [2]))).Code);

        var clash = new DeterministicTarWriter(CommitTime).Add(TarEntry.FromBytes("app", [1])).Add(TarEntry.FromBytes("app/b", [2]));
        Assert.Equal("IMB3004", (await Assert.ThrowsAsync<ImmutableBuildException>(() => clash.WriteToAsync(Stream.Null, Ct))).Code);
    }

    [Fact]
    public async Task A_source_shorter_than_announced_fails_instead_of_writing_a_corrupt_archive()
    {
        var entry = TarEntry.FromStream("app/short", 10, _ => ValueTask.FromResult<Stream>(new MemoryStream([1, 2, 3])));
        var error = await Assert.ThrowsAsync<ImmutableBuildException>(() => new DeterministicTarWriter(CommitTime).Add(entry).WriteToAsync(Stream.Null, Ct));
        Assert.Equal("IMB3006", error.Code);
    }

    [Fact]
    public void Refuses_timestamps_before_1970()
    {
        var error = Assert.Throws<ImmutableBuildException>(() => new DeterministicTarWriter(new DateTimeOffset(1969, 12, 31, 0, 0, 0, TimeSpan.Zero)));
        Assert.Equal("IMB3015", error.Code);
    }
}
