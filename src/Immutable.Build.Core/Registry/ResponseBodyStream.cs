namespace Immutable.Build.Registry;

/// <summary>
/// The body of a registry answer as it is read after its headers, outside the transport's retries: a connection that is
/// reset or closed before the declared length arrives becomes IMB2001 (inner <see cref="BodyCutException"/>), so every
/// reader of a blob or manifest gets a code instead of a raw socket error, and a reader that can start over knows it may.
/// </summary>
internal sealed class ResponseBodyStream(Stream inner, Func<long, Exception, ImmutableBuildException> cut) : Stream
{
    private long _read;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _read;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        try
        {
            var n = inner.Read(buffer);
            _read += n;
            return n;
        }
        catch (IOException e)
        {
            throw cut(_read, new BodyCutException(e));
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            _read += n;
            return n;
        }
        catch (IOException e)
        {
            throw cut(_read, new BodyCutException(e));
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>Marks an IMB2001 whose answer was cut off mid-body: the request went through, so asking again is safe.</summary>
internal sealed class BodyCutException(IOException inner) : IOException(inner.Message, inner);
