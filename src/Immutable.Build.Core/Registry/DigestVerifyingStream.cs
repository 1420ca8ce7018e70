using System.Security.Cryptography;
using Immutable.Build.Images;

namespace Immutable.Build.Registry;

/// <summary>
/// A read-only pass-through that hashes what is read and, once the end is reached, compares the
/// digest and length with what was expected. Used both for blobs coming from a registry and for
/// local content going to it, with different errors.
/// </summary>
internal sealed class DigestVerifyingStream : Stream
{
    private readonly Stream _inner;
    private readonly Digest _expected;
    private readonly long? _expectedLength;
    private readonly Func<string, ImmutableBuildException> _mismatch;
    private readonly IDisposable? _owner;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _read;
    private bool _verified;

    public DigestVerifyingStream(Stream inner, Digest expected, long? expectedLength, Func<string, ImmutableBuildException> mismatch, IDisposable? owner = null)
    {
        _inner = inner;
        _expected = expected;
        _expectedLength = expectedLength;
        _mismatch = mismatch;
        _owner = owner;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => _expectedLength ?? throw new NotSupportedException();

    public override long Position
    {
        get => _read;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = _inner.Read(buffer);
        return Observe(buffer[..n], buffer.Length);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await _inner.ReadAsync(buffer, cancellationToken);
        return Observe(buffer.Span[..n], buffer.Length);
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
            _inner.Dispose();
            _owner?.Dispose();
            _hash.Dispose();
        }

        base.Dispose(disposing);
    }

    private int Observe(ReadOnlySpan<byte> data, int requested)
    {
        if (data.Length > 0)
        {
            _hash.AppendData(data);
            _read += data.Length;
            if (_read > _expectedLength)
            {
                throw _mismatch($"more than the expected {_expectedLength} bytes");
            }
        }
        else if (requested > 0 && !_verified)
        {
            _verified = true;
            if (_expectedLength is { } length && _read != length)
            {
                throw _mismatch($"{_read} bytes instead of {length}");
            }

            var actual = Digest.FromHash(_hash.GetHashAndReset());
            if (actual != _expected)
            {
                throw _mismatch($"content with digest {actual}");
            }
        }

        return data.Length;
    }
}
