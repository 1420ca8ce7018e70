using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace Immutable.Build.Images;

/// <summary>
/// A write-only gzip stream whose header is the same on every machine: no name, mtime 0, XFL 0 and
/// OS 255 ("unknown", as Go's compress/gzip writes). <see cref="GZipStream"/> leaves the OS byte (and
/// XFL) to the native zlib, whose OS byte follows the build machine's OS (3 on Linux), so the header
/// is written here and only the deflate body comes from <see cref="DeflateStream"/>.
/// </summary>
/// <remarks>
/// The deflate body is as stable as the runtime's zlib: .NET 9 and later ship zlib-ng on every OS,
/// .NET 8 used the platform's zlib. Layer digests are reproducible for one runtime major version;
/// diff IDs (the uncompressed tar) are reproducible everywhere.
/// </remarks>
internal sealed class GzipWriteStream : Stream
{
    private static readonly byte[] Header = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    private readonly Stream _inner;
    private readonly DeflateStream _deflate;
    private readonly bool _leaveOpen;
    // System.IO.Hashing's CRC-32 is the same IEEE polynomial as gzip's trailer, vectorised (PCLMULQDQ/ARM CRC),
    // so the trailer bytes are what a table-driven loop gives, at a small fraction of its cost on large layers.
    private readonly Crc32 _crc = new();
    private long _length;
    private bool _headerWritten;
    private bool _finished;

    public GzipWriteStream(Stream inner, CompressionLevel level, bool leaveOpen = false)
    {
        _inner = inner;
        _leaveOpen = leaveOpen;
        _deflate = new DeflateStream(inner, level, leaveOpen: true);
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => !_finished;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (!_headerWritten)
        {
            _inner.Write(Header);
            _headerWritten = true;
        }

        _crc.Append(buffer);
        _length += buffer.Length;
        _deflate.Write(buffer);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_headerWritten)
        {
            await _inner.WriteAsync(Header, cancellationToken);
            _headerWritten = true;
        }

        _crc.Append(buffer.Span);
        _length += buffer.Length;
        await _deflate.WriteAsync(buffer, cancellationToken);
    }

    /// <summary>Ends the deflate body and writes the CRC-32 and length trailer.</summary>
    public async ValueTask FinishAsync(CancellationToken cancellationToken = default)
    {
        if (_finished)
        {
            return;
        }

        if (!_headerWritten)
        {
            await _inner.WriteAsync(Header, cancellationToken);
            _headerWritten = true;
        }

        await _deflate.DisposeAsync();
        var trailer = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, _crc.GetCurrentHashAsUInt32());
        BinaryPrimitives.WriteUInt32LittleEndian(trailer.AsSpan(4), unchecked((uint)_length));
        await _inner.WriteAsync(trailer, cancellationToken);
        _finished = true;
    }

    // Flushing deflate mid-stream emits a sync block, so the bytes would depend on who flushed when;
    // output is complete only after FinishAsync anyway.
    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override async ValueTask DisposeAsync()
    {
        await FinishAsync();
        if (!_leaveOpen)
        {
            await _inner.DisposeAsync();
        }

        await base.DisposeAsync();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // Synchronous disposal cannot finish the stream without blocking; callers use FinishAsync/DisposeAsync.
            _deflate.Dispose();
            if (!_leaveOpen)
            {
                _inner.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}
