using Immutable.Build.Images;
using static Immutable.Build.Core.Tests.Images.ImageTestSupport;

namespace Immutable.Build.Core.Tests.Images;

public sealed class PipeWriteStreamTests
{
    [Fact]
    public async Task Bytes_arrive_in_order_whatever_the_write_sizes_and_completion_runs_after_the_last_block()
    {
        var data = new byte[(5 * 4096) + 77];
        new Random(3).NextBytes(data);
        using var target = new MemoryStream();
        long lengthAtCompletion = -1;
        await using var pipe = new PipeWriteStream(target, _ =>
        {
            lengthAtCompletion = target.Length;
            return ValueTask.CompletedTask;
        }, Ct, blockSize: 4096, depth: 2);

        var sizes = new[] { 1, 4095, 4096, 10_000, 3, 0, 8192 };
        var offset = 0;
        for (var i = 0; offset < data.Length; i++)
        {
            var n = Math.Min(sizes[i % sizes.Length], data.Length - offset);
            await pipe.WriteAsync(data.AsMemory(offset, n), Ct);
            offset += n;
        }

        await pipe.CompleteAsync(Ct);
        Assert.Equal(data, target.ToArray());
        Assert.Equal(data.Length, lengthAtCompletion);
    }

    [Fact]
    public async Task A_failing_target_fails_the_writer_with_its_own_error()
    {
        var failure = new IOException("disk gone");
        await using var pipe = new PipeWriteStream(new FailingStream(failure), _ => ValueTask.CompletedTask, Ct, blockSize: 1024, depth: 1);
        var thrown = await Assert.ThrowsAsync<IOException>(async () =>
        {
            // More than the pipe holds: the writer has to wait for the consumer, which has failed.
            for (var i = 0; i < 16; i++)
            {
                await pipe.WriteAsync(new byte[1024], Ct);
            }

            await pipe.CompleteAsync(Ct);
        });
        Assert.Same(failure, thrown);
    }

    [Fact]
    public async Task A_failing_completion_fails_CompleteAsync()
    {
        var failure = new InvalidOperationException("trailer");
        await using var pipe = new PipeWriteStream(Stream.Null, _ => throw failure, Ct, blockSize: 1024, depth: 1);
        await pipe.WriteAsync(new byte[10], Ct);
        Assert.Same(failure, await Assert.ThrowsAsync<InvalidOperationException>(() => pipe.CompleteAsync(Ct).AsTask()));
    }

    [Fact]
    public async Task Disposing_without_completing_stops_the_consumer_and_skips_the_completion()
    {
        var completed = false;
        using var target = new MemoryStream();
        var pipe = new PipeWriteStream(target, _ =>
        {
            completed = true;
            return ValueTask.CompletedTask;
        }, Ct, blockSize: 1024, depth: 2);
        await pipe.WriteAsync(new byte[3000], Ct);
        await pipe.DisposeAsync();
        Assert.False(completed);
    }

    private sealed class FailingStream(Exception failure) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw failure;

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromException(failure);
    }
}
