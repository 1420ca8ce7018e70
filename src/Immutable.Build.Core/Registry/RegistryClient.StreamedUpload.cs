using System.Net;
using System.Net.Http.Headers;
using System.Threading.Channels;
using Immutable.Build.Images;

namespace Immutable.Build.Registry;

public sealed partial class RegistryClient
{
    /// <summary>
    /// Starts an upload to <paramref name="repository"/> whose bytes are sent as they are produced and whose digest is
    /// named only when the last one is written (the distribution API needs it at the closing PUT only), so a layer is
    /// uploaded while it is still compressing: one PATCH whose body streams (as docker push sends layers), then the PUT.
    /// Nothing is buffered here beyond the block being written. <paramref name="committed"/> hears of each blob the
    /// registry took under its digest. Nothing is retried: the caller falls back to an ordinary upload.
    /// </summary>
    internal async Task<ILayerSink> StartStreamedUploadAsync(string repository, Action<Digest, long>? committed, CancellationToken cancellationToken)
    {
        RegistryNames.ValidateRepository(repository);
        var start = await StartUploadAsync(repository, default, null, cancellationToken);
        var upload = new StreamedUpload(this, repository, start.Location!, committed);
        upload.Start(cancellationToken);
        return upload;
    }

    private sealed class StreamedUpload(RegistryClient client, string repository, Uri location, Action<Digest, long>? committed) : ILayerSink
    {
        // One block at a time: a writer waits until its block is on the wire, so the caller may reuse its memory at once.
        private readonly Channel<(ReadOnlyMemory<byte> Bytes, TaskCompletionSource Sent)> _blocks =
            Channel.CreateBounded<(ReadOnlyMemory<byte>, TaskCompletionSource)>(new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true });

        private Task<HttpResponseMessage>? _patch;
        private long _sent;
        private bool _closed;

        public void Start(CancellationToken cancellationToken)
        {
            var bodies = 0;
            _patch = client._transport.SendAsync(
                () =>
                {
                    // A second request (after an auth challenge) would need the bytes the first one took: it fails instead.
                    var content = Interlocked.Increment(ref bodies) == 1 ? (HttpContent)new BlockContent(this) : new FailingContent();
                    content.Headers.ContentType = new MediaTypeHeaderValue(OctetStream);
                    return new HttpRequestMessage(HttpMethod.Patch, location) { Content = content };
                },
                ScopeSet.Push(repository),
                HttpCompletionOption.ResponseContentRead,
                cancellationToken,
                maxAttempts: 1);
            // A request that ends before the body does (refused, reset) must not leave a writer waiting for it.
            _ = _patch.ContinueWith(t => Fail(t.Exception?.InnerException ?? new IOException("the registry ended the streamed upload early")), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
        {
            var sent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await _blocks.Writer.WriteAsync((bytes, sent), cancellationToken);
            await sent.Task.WaitAsync(cancellationToken);
        }

        public async ValueTask CompleteAsync(Digest digest, long size, CancellationToken cancellationToken)
        {
            _blocks.Writer.TryComplete();
            using (var response = await _patch!)
            {
                await client._transport.EnsureSuccessAsync(response, $"PATCH blob upload {repository} (streamed)", cancellationToken);
                location = response.Headers.Location is { } next ? client._transport.Resolve(next, "PATCH") : location;
            }

            if (_sent != size)
            {
                throw new IOException($"the streamed upload sent {_sent} bytes of a {size}-byte blob");
            }

            var commit = WithQuery(location, "digest", digest.Value);
            using (var response = await client._transport.SendAsync(
                () => new HttpRequestMessage(HttpMethod.Put, commit) { Content = new ByteArrayContent([]) },
                ScopeSet.Push(repository),
                HttpCompletionOption.ResponseContentRead,
                cancellationToken,
                maxAttempts: 1))
            {
                await client.FinishUploadAsync(response, repository, digest, cancellationToken);
            }

            _closed = true;
            client._transport.LogLine($"uploaded blob {digest} ({FormatSize(size)}) to {repository} while it was compressed");
            committed?.Invoke(digest, size);
        }

        public async ValueTask AbortAsync()
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            Fail(new OperationCanceledException("the streamed upload was abandoned"));
            try
            {
                using var response = await _patch!;
            }
            catch (Exception)
            {
                // The request was made to fail; how it failed is of no interest.
            }

            await client.CancelUploadAsync(location);
        }

        private void Fail(Exception reason)
        {
            _blocks.Writer.TryComplete(reason);
            while (_blocks.Reader.TryRead(out var block))
            {
                block.Sent.TrySetException(reason);
            }
        }

        private async Task SendBodyAsync(Stream stream, CancellationToken cancellationToken)
        {
            (ReadOnlyMemory<byte> Bytes, TaskCompletionSource Sent) block = default;
            try
            {
                while (await _blocks.Reader.WaitToReadAsync(cancellationToken))
                {
                    while (_blocks.Reader.TryRead(out block))
                    {
                        await stream.WriteAsync(block.Bytes, cancellationToken);
                        _sent += block.Bytes.Length;
                        block.Sent.TrySetResult();
                        block = default;
                    }
                }
            }
            catch (Exception e)
            {
                block.Sent?.TrySetException(e);
                Fail(e);
                throw;
            }
        }

        /// <summary>The PATCH body: the blocks as they are written, until the upload is completed.</summary>
        private sealed class BlockContent(StreamedUpload upload) : HttpContent
        {
            protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => upload.SendBodyAsync(stream, CancellationToken.None);

            protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) => upload.SendBodyAsync(stream, cancellationToken);

            protected override bool TryComputeLength(out long length)
            {
                length = 0;
                return false;
            }
        }

        private sealed class FailingContent : HttpContent
        {
            protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
                Task.FromException(new IOException("a streamed upload body cannot be sent twice"));

            protected override bool TryComputeLength(out long length)
            {
                length = 0;
                return false;
            }
        }
    }
}
