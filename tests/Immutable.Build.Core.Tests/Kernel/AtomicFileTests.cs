using System.Text;

namespace Immutable.Build.Core.Tests.Kernel;

/// <summary>Write-temp-then-rename: the new content or the old, never a leftover temporary file.</summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewWorkDir("kernel-atomic");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Target => Path.Combine(_dir, "release.json");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void AssertOnlyTarget() => Assert.Equal([Target], Directory.GetFiles(_dir));

    [Fact]
    public void WriteAllText_writes_utf8_without_a_byte_order_mark_and_leaves_no_temporary_file()
    {
        Assert.True(AtomicFile.WriteAllText(Target, "héllo"));

        Assert.Equal(Encoding.UTF8.GetBytes("héllo"), File.ReadAllBytes(Target));
        AssertOnlyTarget();
    }

    [Fact]
    public void WriteAllBytes_replaces_existing_content_by_default()
    {
        File.WriteAllText(Target, "old and longer");

        Assert.True(AtomicFile.WriteAllBytes(Target, "new"u8));

        Assert.Equal("new", File.ReadAllText(Target));
        AssertOnlyTarget();
    }

    [Fact]
    public void Without_overwrite_an_existing_file_is_kept_and_false_returned()
    {
        File.WriteAllText(Target, "first");

        Assert.False(AtomicFile.WriteAllText(Target, "second", overwrite: false));
        Assert.False(AtomicFile.WriteAllBytes(Target, "third"u8, overwrite: false));

        Assert.Equal("first", File.ReadAllText(Target));
        AssertOnlyTarget();
    }

    [Fact]
    public void Without_overwrite_a_new_file_is_written()
    {
        Assert.True(AtomicFile.WriteAllText(Target, "only", overwrite: false));

        Assert.Equal("only", File.ReadAllText(Target));
        AssertOnlyTarget();
    }

    [Fact]
    public async Task WriteAsync_writes_what_the_callback_puts_in_the_stream()
    {
        Assert.True(await AtomicFile.WriteAsync(Target, (s, ct) => s.WriteAsync("streamed"u8.ToArray(), ct).AsTask(), overwrite: true, Ct));

        Assert.Equal("streamed", await File.ReadAllTextAsync(Target, Ct));
        AssertOnlyTarget();
    }

    [Fact]
    public async Task WriteAsync_without_overwrite_keeps_the_existing_file()
    {
        await File.WriteAllTextAsync(Target, "kept", Ct);

        Assert.False(await AtomicFile.WriteAsync(Target, (s, ct) => s.WriteAsync("lost"u8.ToArray(), ct).AsTask(), overwrite: false, Ct));

        Assert.Equal("kept", await File.ReadAllTextAsync(Target, Ct));
        AssertOnlyTarget();
    }

    [Fact]
    public async Task A_writer_that_fails_halfway_leaves_the_old_content_and_no_temporary_file()
    {
        await File.WriteAllTextAsync(Target, "intact", Ct);

        await Assert.ThrowsAsync<InvalidOperationException>(() => AtomicFile.WriteAsync(
            Target,
            async (s, ct) =>
            {
                await s.WriteAsync("half a fi"u8.ToArray(), ct);
                throw new InvalidOperationException("disk gone");
            },
            overwrite: true,
            Ct));

        Assert.Equal("intact", await File.ReadAllTextAsync(Target, Ct));
        AssertOnlyTarget();
    }

    [Fact]
    public void The_temporary_name_is_beside_the_target_and_new_each_time()
    {
        var a = AtomicFile.TempPathFor(Target);
        var b = AtomicFile.TempPathFor(Target);

        Assert.Equal(_dir, Path.GetDirectoryName(a));
        Assert.StartsWith(Target + ".", a, StringComparison.Ordinal);
        Assert.EndsWith(".tmp", a, StringComparison.Ordinal);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public async Task Concurrent_writers_without_overwrite_leave_exactly_one_winner_whole()
    {
        var contents = Enumerable.Range(0, 8).Select(i => new string((char)('a' + i), 4096)).ToList();

        var won = await Task.WhenAll(contents.Select(c => Task.Run(() => AtomicFile.WriteAllText(Target, c, overwrite: false), Ct)));

        Assert.Single(won, w => w);
        Assert.Equal(contents[Array.IndexOf(won, true)], File.ReadAllText(Target));
        AssertOnlyTarget();
    }
}
