using System.Buffers;
using System.Threading.Channels;

namespace Immutable.Build.Images;

/// <summary>
/// A write-only stream that hands what is written, in order, to <c>target</c> on a task of its own, so that the
/// stages of a layer (tar and its SHA-256; CRC and deflate; SHA-256 of the gzip and the file write) run on
/// different cores instead of one after another. Bytes reach the target in exactly the order written: only
/// the thread that writes them changes, so the output is the same as with no pipe at all.
/// </summary>
/// <remarks>
/// Memory is bounded: <c>depth</c> + 1 blocks of <c>blockSize</c> bytes, rented once from the shared pool (so the
/// pipes of one layer after another reuse the same arrays instead of leaving large-object garbage behind), passed
/// back and forth, and returned when the consumer is done. A failure of the target ends the writer's next write
/// (or <see cref="CompleteAsync"/>) with that failure.
/// </remarks>
internal sealed class PipeWriteStream : ForwardStream
{
    private readonly Channel<(byte[] Block, int Length)> _full;
    private readonly Channel<byte[]> _free;
    private readonly CancellationTokenSource _abort;
    private readonly Task _consumer;
    private readonly int _blocks;
    private readonly int _blockSize;
    private byte[]? _current;
    private int _used;
    private bool _completed;
    private bool _returned;

    /// <summary>
    /// Starts the consumer: every block goes to <paramref name="target"/>; after the last one, <paramref name="complete"/>
    /// runs on the consumer too (to finish the stage below: a gzip trailer, the next pipe, a flush).
    /// </summary>
    public PipeWriteStream(Stream target, Func<CancellationToken, ValueTask> complete, CancellationToken cancellationToken, int blockSize = 256 * 1024, int depth = 3)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(complete);
        _full = Channel.CreateBounded<(byte[], int)>(new BoundedChannelOptions(depth) { SingleReader = true, SingleWriter = true });
        _free = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        _blocks = depth + 1;
        for (var i = 0; i < _blocks; i++)
        {
            // A rented array may be longer than asked; only blockSize bytes of it are used, so blocks are the same everywhere.
            _free.Writer.TryWrite(ArrayPool<byte>.Shared.Rent(blockSize));
        }

        _blockSize = blockSize;

        _abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _consumer = Task.Run(() => ConsumeAsync(target, complete, _abort.Token), CancellationToken.None);
    }

    public override bool CanRead => false;

    public override bool CanWrite => !_completed;

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        // Rare (the layer writers write asynchronously), so the copy is kept simple rather than allocation-free.
        WriteAsync(buffer.ToArray(), CancellationToken.None).AsTask().GetAwaiter().GetResult();
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        while (!buffer.IsEmpty)
        {
            _current ??= await TakeFreeAsync(cancellationToken);
            var n = Math.Min(buffer.Length, _blockSize - _used);
            buffer.Span[..n].CopyTo(_current.AsSpan(_used));
            _used += n;
            buffer = buffer[n..];
            if (_used == _blockSize)
            {
                await SendAsync(cancellationToken);
            }
        }
    }

    /// <summary>Sends the last partial block, waits for the consumer to write everything and run its completion.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        if (_completed)
        {
            await _consumer;
            return;
        }

        if (_used > 0)
        {
            await SendAsync(cancellationToken);
        }

        _completed = true;
        _full.Writer.TryComplete();
        try
        {
            await _consumer;
        }
        finally
        {
            ReturnBlocks();
        }
    }

    // Flushing means nothing here: the bytes are complete only after CompleteAsync.
    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override async ValueTask DisposeAsync()
    {
        await AbortAsync();
        await base.DisposeAsync();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            AbortAsync().AsTask().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }

    /// <summary>Stops a consumer that was not completed (the writer failed); its own outcome no longer matters.</summary>
    private async ValueTask AbortAsync()
    {
        if (!_completed)
        {
            _completed = true;
            // Cancelled before the channel ends, so the consumer cannot take the end for a finished stream and complete.
            await _abort.CancelAsync();
            _full.Writer.TryComplete();
            try
            {
                await _consumer;
            }
            catch (Exception)
            {
                // The writer's own failure is the one being reported; what the stopped consumer ran into is a consequence.
            }

            ReturnBlocks();
        }
        else
        {
            // A completed pipe's consumer is done or failed already; its failure was reported by CompleteAsync.
            _ = _consumer.Exception;
        }

        _abort.Dispose();
    }

    /// <summary>Gives the blocks back to the pool once the consumer has stopped: none of them is in use any more.</summary>
    private void ReturnBlocks()
    {
        if (_returned || !_consumer.IsCompleted)
        {
            return;
        }

        _returned = true;
        if (_current is not null)
        {
            ArrayPool<byte>.Shared.Return(_current);
            _current = null;
        }

        while (_full.Reader.TryRead(out var full))
        {
            ArrayPool<byte>.Shared.Return(full.Block);
        }

        while (_free.Reader.TryRead(out var free))
        {
            ArrayPool<byte>.Shared.Return(free);
        }
    }

    private async ValueTask<byte[]> TakeFreeAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _free.Reader.ReadAsync(cancellationToken);
        }
        catch (ChannelClosedException)
        {
            await _consumer; // throws the consumer's failure
            throw;
        }
    }

    private async ValueTask SendAsync(CancellationToken cancellationToken)
    {
        var block = (_current!, _used);
        _current = null;
        _used = 0;
        try
        {
            await _full.Writer.WriteAsync(block, cancellationToken);
        }
        catch (ChannelClosedException)
        {
            await _consumer; // throws the consumer's failure
            throw;
        }
    }

    private async Task ConsumeAsync(Stream target, Func<CancellationToken, ValueTask> complete, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var (block, length) in _full.Reader.ReadAllAsync(cancellationToken))
            {
                await target.WriteAsync(block.AsMemory(0, length), cancellationToken);
                _free.Writer.TryWrite(block);
            }

            cancellationToken.ThrowIfCancellationRequested();
            await complete(cancellationToken);
        }
        catch (Exception e)
        {
            // The writer waiting for a free block or a free slot wakes up and rethrows this.
            _full.Writer.TryComplete(e);
            _free.Writer.TryComplete(e);
            throw;
        }
    }
}
