namespace Immutable.Build.Images;

/// <summary>
/// Gets a new layer's gzip bytes, in order, while the layer is still being compressed: a registry upload that
/// starts before the digest is known and is committed with it, so a big layer's upload overlaps its compression.
/// </summary>
/// <remarks>
/// Best effort: <see cref="LayerBuilder"/> stops feeding a sink that throws and aborts it, and the layer is built
/// all the same; whatever the sink was for then happens the ordinary way (the push uploads the blob from the cache).
/// </remarks>
internal interface ILayerSink
{
    /// <summary>The next bytes of the gzip.</summary>
    ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken);

    /// <summary>All bytes were written; they have this digest and size.</summary>
    ValueTask CompleteAsync(Digest digest, long size, CancellationToken cancellationToken);

    /// <summary>The layer failed or the sink did: drop what was sent.</summary>
    ValueTask AbortAsync();
}

/// <summary>Opens a sink for a layer about to be built (<paramref name="tarLength"/> bytes of content), or returns null for none.</summary>
internal delegate Task<ILayerSink?> LayerSinkFactory(string layerName, long tarLength, CancellationToken cancellationToken);

/// <summary>Feeds an <see cref="ILayerSink"/> from a pipe stage, turning its failures into "no sink" instead of a failed layer.</summary>
internal sealed class BestEffortSinkStream(ILayerSink sink, Action<string>? log) : ForwardStream
{
    private bool _failed;

    public override bool CanRead => false;

    public override bool CanWrite => true;

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_failed)
        {
            return;
        }

        try
        {
            await sink.WriteAsync(buffer, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            await FailAsync(e);
        }
    }

    /// <summary>Commits the sink; false when it failed on the way (then it is aborted).</summary>
    public async Task<bool> CompleteAsync(Digest digest, long size, CancellationToken cancellationToken)
    {
        if (_failed)
        {
            return false;
        }

        try
        {
            await sink.CompleteAsync(digest, size, cancellationToken);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            await FailAsync(e);
            return false;
        }
    }

    public async ValueTask AbortAsync()
    {
        if (!_failed)
        {
            _failed = true;
            await sink.AbortAsync();
        }
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private async ValueTask FailAsync(Exception e)
    {
        // Any failure of the side channel only means the layer goes the ordinary way; it is logged, not raised.
        log?.Invoke($"streaming the layer while it compresses stopped ({e.Message}); it is pushed after it is built instead");
        await AbortAsync();
    }
}

/// <summary>Writes each block to two streams in turn: the layer's file (whose failures are the layer's) and a side channel.</summary>
internal sealed class TeeWriteStream(Stream first, Stream second) : ForwardStream
{
    public override bool CanRead => false;

    public override bool CanWrite => true;

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await first.WriteAsync(buffer, cancellationToken);
        await second.WriteAsync(buffer, cancellationToken);
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
