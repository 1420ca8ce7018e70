using System.Security.Cryptography;

namespace Immutable.Build.Images;

/// <summary>How a verified read went wrong: more bytes than expected (no digest yet), or the wrong length or digest at the end.</summary>
/// <param name="Expected">The digest the content should have.</param>
/// <param name="ExpectedLength">The length it should have, when known.</param>
/// <param name="BytesRead">How much was read.</param>
/// <param name="Actual">The digest of what was read; null when reading stopped at more than <paramref name="ExpectedLength"/> bytes.</param>
internal sealed record BlobReadMismatch(Digest Expected, long? ExpectedLength, long BytesRead, Digest? Actual)
{
    /// <summary>The registry's wording of what the content read as.</summary>
    public string Reason => Actual is not { } actual
        ? $"more than the expected {ExpectedLength} bytes"
        : ExpectedLength is { } length && BytesRead != length
            ? $"{BytesRead} bytes instead of {length}"
            : $"content with digest {actual}";
}

/// <summary>
/// A read-only pass-through that hashes what is read and, once the end is reached, compares the
/// digest and length with what was expected: blobs from a registry or a layout, base layers copied
/// into an image, and local content going to a registry, each with its own error.
/// </summary>
internal sealed class DigestVerifyingStream : Stream
{
    private readonly Stream _inner;
    private readonly Digest _expected;
    private readonly long? _expectedLength;
    private readonly Func<BlobReadMismatch, ImmutableBuildException> _mismatch;
    private readonly IDisposable? _owner;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _read;
    private bool _verified;

    public DigestVerifyingStream(Stream inner, Digest expected, long? expectedLength, Func<BlobReadMismatch, ImmutableBuildException> mismatch, IDisposable? owner = null)
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

    /// <summary>
    /// Checks a blob against its descriptor, so a corrupt download or cache entry fails the write (IMB3011)
    /// instead of producing an image that does not match its manifest.
    /// </summary>
    public static DigestVerifyingStream ForDescriptor(Stream inner, Descriptor descriptor) =>
        new(inner, Digest.Parse(descriptor.Digest), descriptor.Size, m => m.Actual is not { } actual
            ? ImageErrors.DigestMismatch($"Blob {descriptor.Digest}", $"{descriptor.Size} bytes", $"more than {descriptor.Size} bytes")
            : ImageErrors.DigestMismatch($"Blob {descriptor.Digest}", $"{descriptor.Digest} ({descriptor.Size} bytes)", $"{actual} ({m.BytesRead} bytes)"));

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
                throw _mismatch(new BlobReadMismatch(_expected, _expectedLength, _read, null));
            }
        }
        else if (requested > 0 && !_verified)
        {
            _verified = true;
            var actual = Digest.FromHash(_hash.GetHashAndReset());
            if ((_expectedLength is { } length && _read != length) || actual != _expected)
            {
                throw _mismatch(new BlobReadMismatch(_expected, _expectedLength, _read, actual));
            }
        }

        return data.Length;
    }
}
