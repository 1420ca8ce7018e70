using System.Net.Http.Headers;
using Immutable.Build.Images;

namespace Immutable.Build.Registry;

public sealed partial class RegistryClient
{
    /// <summary>
    /// Starts a chunked upload to <paramref name="repository"/> whose bytes are sent as they are produced and whose
    /// digest is named only when the last one is written (the distribution API needs it at the closing PUT only),
    /// so a layer is uploaded while it is still compressing. <paramref name="committed"/> hears of each blob that
    /// the registry took under its digest. Requests are not retried: the caller falls back to an ordinary upload.
    /// </summary>
    internal async Task<ILayerSink> StartStreamedUploadAsync(string repository, Action<Digest, long>? committed, CancellationToken cancellationToken)
    {
        RegistryNames.ValidateRepository(repository);
        var start = await StartUploadAsync(repository, default, null, cancellationToken);
        var chunk = (int)Math.Clamp(Math.Max(Options.ChunkSize, start.MinimumChunk), 1, int.MaxValue);
        return new StreamedUpload(this, repository, start.Location!, chunk, committed);
    }

    private sealed class StreamedUpload(RegistryClient client, string repository, Uri location, int chunkSize, Action<Digest, long>? committed) : ILayerSink
    {
        // Filled to a whole chunk before each PATCH: registries may ask for a minimum chunk length (all but the last).
        private readonly byte[] _buffer = new byte[chunkSize];
        private Uri _location = location;
        private int _used;
        private long _offset;
        private bool _closed;

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
        {
            while (!bytes.IsEmpty)
            {
                var n = Math.Min(bytes.Length, _buffer.Length - _used);
                bytes.Span[..n].CopyTo(_buffer.AsSpan(_used));
                _used += n;
                bytes = bytes[n..];
                if (_used == _buffer.Length)
                {
                    await SendChunkAsync(cancellationToken);
                }
            }
        }

        public async ValueTask CompleteAsync(Digest digest, long size, CancellationToken cancellationToken)
        {
            if (_used > 0)
            {
                await SendChunkAsync(cancellationToken);
            }

            if (_offset != size)
            {
                throw new InvalidOperationException($"the stream upload sent {_offset} bytes of a {size}-byte blob");
            }

            var commit = WithQuery(_location, "digest", digest.Value);
            using var response = await client._transport.SendAsync(
                () => new HttpRequestMessage(HttpMethod.Put, commit) { Content = new ByteArrayContent([]) },
                ScopeSet.Push(repository),
                HttpCompletionOption.ResponseContentRead,
                cancellationToken,
                maxAttempts: 1);
            await client.FinishUploadAsync(response, repository, digest, cancellationToken);
            _closed = true;
            client._transport.LogLine($"uploaded blob {digest} ({FormatSize(size)}) to {repository} while it was compressed");
            committed?.Invoke(digest, size);
        }

        public async ValueTask AbortAsync()
        {
            if (!_closed)
            {
                _closed = true;
                await client.CancelUploadAsync(_location);
            }
        }

        private async Task SendChunkAsync(CancellationToken cancellationToken)
        {
            var n = _used;
            var range = $"{_offset}-{_offset + n - 1}";
            var target = _location;
            using var response = await client._transport.SendAsync(
                () =>
                {
                    var content = new ByteArrayContent(_buffer, 0, n);
                    content.Headers.ContentType = new MediaTypeHeaderValue(OctetStream);
                    content.Headers.TryAddWithoutValidation("Content-Range", range);
                    return new HttpRequestMessage(HttpMethod.Patch, target) { Content = content };
                },
                ScopeSet.Push(repository),
                HttpCompletionOption.ResponseContentRead,
                cancellationToken,
                maxAttempts: 1);
            await client._transport.EnsureSuccessAsync(response, $"PATCH blob upload {repository} (streamed, bytes {range})", cancellationToken);
            _location = response.Headers.Location is { } next ? client._transport.Resolve(next, "PATCH") : _location;
            _offset += n;
            _used = 0;
        }
    }
}
