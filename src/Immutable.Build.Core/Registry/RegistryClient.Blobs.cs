using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Immutable.Build.Images;

namespace Immutable.Build.Registry;

public sealed partial class RegistryClient
{
    private const string OctetStream = "application/octet-stream";

    /// <summary>True when the repository has the blob.</summary>
    public async Task<bool> BlobExistsAsync(string repository, Digest digest, CancellationToken cancellationToken = default)
    {
        var uri = BlobUri(repository, digest);
        using var response = await _transport.SendAsync(() => new HttpRequestMessage(HttpMethod.Head, uri), ScopeSet.Pull(repository), HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await _transport.EnsureSuccessAsync(response, $"HEAD blob {repository}@{digest}", cancellationToken);
        return true;
    }

    /// <summary>
    /// Opens a blob for reading. The stream checks size and digest when it is read to its end and
    /// throws IMB2008 from that last read on a mismatch, so a caller that reads everything (copying
    /// to a file, extracting a layer to the end) never sees unverified content as complete. A caller
    /// that stops early gets no verification. Throws IMB2007 when the blob does not exist.
    /// </summary>
    public async Task<Stream> GetBlobAsync(string repository, Digest digest, CancellationToken cancellationToken = default)
    {
        var uri = BlobUri(repository, digest);
        var response = await _transport.SendAsync(() => new HttpRequestMessage(HttpMethod.Get, uri), ScopeSet.Pull(repository), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        try
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                throw RegistryErrors.Error(
                    RegistryErrors.BlobNotFound,
                    $"{Registry}/{repository} has no blob {digest}. The image that references it is incomplete in the registry: push it again.");
            }

            await _transport.EnsureSuccessAsync(response, $"GET blob {repository}@{digest}", cancellationToken);
            var stream = _transport.Body(await response.Content.ReadAsStreamAsync(cancellationToken), $"GET blob {repository}@{digest}");
            return new DigestVerifyingStream(stream, digest, response.Content.Headers.ContentLength, m => _transport.Mismatch($"blob {repository}@{digest}", m.Reason), response);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>Reads a whole blob (a config, a small layer) into memory, verified; throws IMB2009 above <paramref name="maxBytes"/>.</summary>
    public Task<byte[]> GetBlobBytesAsync(string repository, Digest digest, long maxBytes = 64L * 1024 * 1024, CancellationToken cancellationToken = default) =>
        _transport.RetryCutBodyAsync(
            $"GET blob {repository}@{digest}",
            async ct =>
            {
                await using var stream = await GetBlobAsync(repository, digest, ct);
                return await RegistryTransport.ReadAtMostAsync(stream, maxBytes, () => RegistryErrors.Error(RegistryErrors.RequestRejected, $"Blob {repository}@{digest} is larger than the {maxBytes} bytes expected here."), ct);
            },
            cancellationToken);

    /// <summary>
    /// Asks the registry to link a blob from another repository of the same registry (no bytes
    /// move). True when mounted; false when the registry declined (it lacks the blob there, or the
    /// account may not read it) and the blob must be uploaded.
    /// </summary>
    public async Task<bool> MountBlobAsync(string repository, Digest digest, string fromRepository, CancellationToken cancellationToken = default)
    {
        var start = await StartUploadAsync(repository, digest, RegistryNames.ValidateRepository(fromRepository), cancellationToken);
        if (start.Mounted)
        {
            _transport.LogLine($"mounted blob {digest} into {repository} from {fromRepository}");
            return true;
        }

        await CancelUploadAsync(start.Location!);
        return false;
    }

    /// <summary>
    /// Puts a blob into the repository: mounted from <see cref="BlobContent.SourceRepository"/> when
    /// the registry can, else uploaded from <see cref="BlobContent.Open"/> in one PUT, or in PATCH
    /// chunks above <see cref="RegistryClientOptions.ChunkedUploadThreshold"/>. The content is checked
    /// against the descriptor while it is sent (IMB2018). A failed upload restarts in a new session,
    /// unless the registry turns out to have the blob after all.
    /// </summary>
    public async Task<BlobUploadResult> UploadBlobAsync(string repository, BlobContent blob, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(blob);
        RegistryNames.ValidateRepository(repository);
        var digest = Digest.Parse(blob.Descriptor.Digest);
        var from = blob.SourceRepository is { } source && source != repository ? RegistryNames.ValidateRepository(source) : null;
        return await Retry.RunAsync(
            _transport.RetryPolicy,
            Options.TimeProvider,
            async (_, ct) =>
            {
                try
                {
                    return await UploadOnceAsync(repository, blob, digest, from, ct);
                }
                catch (ImmutableBuildException e) when (IsUnreachable(e))
                {
                    if (await ExistsQuietlyAsync(repository, digest, ct))
                    {
                        // The last request went through but its answer was lost.
                        return new BlobUploadResult(digest, false, blob.Descriptor.Size, 0);
                    }

                    throw;
                }
            },
            outcome =>
            {
                if (outcome.Error is not ImmutableBuildException e || !IsUnreachable(e))
                {
                    return ValueTask.FromResult(RetryDecision.Stop);
                }

                return outcome.IsLast
                    ? throw RegistryErrors.Error(e.Code, $"Uploading blob {digest} to {Registry}/{repository} failed {outcome.Attempt} times. Last failure: {e.Message}", e)
                    : ValueTask.FromResult(RetryDecision.Retry(e.Message));
            },
            cancellationToken,
            (outcome, delay, reason) => _transport.LogLine($"upload of blob {digest} to {repository} failed ({reason}); restarting it in {delay.TotalSeconds:0.0} s (attempt {outcome.Attempt + 1} of {outcome.MaxAttempts})"));
    }

    private static bool IsUnreachable(ImmutableBuildException e) => e.Code is RegistryErrors.Unreachable or RegistryErrors.Unavailable;

    private async Task<BlobUploadResult> UploadOnceAsync(string repository, BlobContent blob, Digest digest, string? from, CancellationToken cancellationToken)
    {
        var start = await StartUploadAsync(repository, digest, from, cancellationToken);
        if (start.Mounted)
        {
            _transport.LogLine($"mounted blob {digest} ({FormatSize(blob.Descriptor.Size)}) into {repository} from {from}");
            return new BlobUploadResult(digest, true, 0, 0);
        }

        var location = start.Location!;
        var completed = false;
        try
        {
            if (blob.Open is null)
            {
                throw RegistryErrors.Error(
                    RegistryErrors.BlobContentUnavailable,
                    from is null
                        ? $"Blob {digest} of the image has no local content and no source repository to mount it from, and {Registry}/{repository} does not have it. Make the base image's layers available in {Registry}, or build with the layer files present."
                        : $"Blob {digest} has no local content and {Registry} could not mount it from {from} into {repository}. Push the base image to {Registry}/{from} (or point ContainerBaseImage at a repository in {Registry} that has it), or build with the layer files present.");
            }

            var result = blob.Descriptor.Size > Options.ChunkedUploadThreshold
                ? await UploadChunkedAsync(repository, blob, digest, location, start.MinimumChunk, cancellationToken)
                : await UploadMonolithicAsync(repository, blob, digest, location, cancellationToken);
            completed = true;
            return result;
        }
        finally
        {
            if (!completed)
            {
                await CancelUploadAsync(location);
            }
        }
    }

    private async Task<BlobUploadResult> UploadMonolithicAsync(string repository, BlobContent blob, Digest digest, Uri location, CancellationToken cancellationToken)
    {
        var size = blob.Descriptor.Size;
        var target = WithQuery(location, "digest", digest.Value);
        using var response = await _transport.SendAsync(
            () =>
            {
                var content = new StreamContent(new DigestVerifyingStream(blob.Open!(), digest, size, m => LocalMismatch(repository, digest, size, m.Reason)));
                content.Headers.ContentLength = size;
                content.Headers.ContentType = new MediaTypeHeaderValue(OctetStream);
                return new HttpRequestMessage(HttpMethod.Put, target) { Content = content };
            },
            ScopeSet.Push(repository),
            HttpCompletionOption.ResponseContentRead,
            cancellationToken,
            maxAttempts: 1);
        await FinishUploadAsync(response, repository, digest, cancellationToken);
        _transport.LogLine($"uploaded blob {digest} ({FormatSize(size)}) to {repository}");
        return new BlobUploadResult(digest, false, size, 0);
    }

    private async Task<BlobUploadResult> UploadChunkedAsync(string repository, BlobContent blob, Digest digest, Uri location, long minimumChunk, CancellationToken cancellationToken)
    {
        var size = blob.Descriptor.Size;
        var chunkSize = (int)Math.Clamp(Math.Max(Options.ChunkSize, minimumChunk), 1, Math.Max(1, Math.Min(size, int.MaxValue)));
        // Two buffers: the next chunk is read (and hashed) while the current one is on the wire, so a large blob costs
        // the upload's time, not the upload's plus the read's.
        var buffer = new byte[chunkSize];
        var spare = new byte[chunkSize];
        await using var source = new DigestVerifyingStream(blob.Open!(), digest, size, m => LocalMismatch(repository, digest, size, m.Reason));
        long offset = 0;
        var chunks = 0;
        // Reading to the end makes the stream verify size and digest before the final PUT commits anything.
        var reading = ReadFullAsync(source, buffer, cancellationToken);
        try
        {
            while (true)
            {
                var n = await reading;
                if (n == 0)
                {
                    break;
                }

                var chunk = buffer;
                (buffer, spare) = (spare, buffer);
                reading = ReadFullAsync(source, buffer, cancellationToken);
                var range = $"{offset}-{offset + n - 1}";
                var target = location;
                using var response = await _transport.SendAsync(
                    () =>
                    {
                        var content = new ByteArrayContent(chunk, 0, n);
                        content.Headers.ContentType = new MediaTypeHeaderValue(OctetStream);
                        content.Headers.TryAddWithoutValidation("Content-Range", range);
                        return new HttpRequestMessage(HttpMethod.Patch, target) { Content = content };
                    },
                    ScopeSet.Push(repository),
                    HttpCompletionOption.ResponseContentRead,
                    cancellationToken,
                    maxAttempts: 1);
                await _transport.EnsureSuccessAsync(response, $"PATCH blob upload {repository} ({digest}, bytes {range})", cancellationToken);
                location = response.Headers.Location is { } next ? _transport.Resolve(next, "PATCH") : location;
                offset += n;
                chunks++;
            }
        }
        catch
        {
            // The read ahead must be over before the source is disposed; its own outcome no longer matters.
            await ((Task)reading).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }

        var commit = WithQuery(location, "digest", digest.Value);
        using (var response = await _transport.SendAsync(
            () => new HttpRequestMessage(HttpMethod.Put, commit) { Content = new ByteArrayContent([]) },
            ScopeSet.Push(repository),
            HttpCompletionOption.ResponseContentRead,
            cancellationToken,
            maxAttempts: 1))
        {
            await FinishUploadAsync(response, repository, digest, cancellationToken);
        }

        _transport.LogLine($"uploaded blob {digest} ({FormatSize(size)}) to {repository} in {chunks} chunks");
        return new BlobUploadResult(digest, false, size, chunks);
    }

    private async Task FinishUploadAsync(HttpResponseMessage response, string repository, Digest digest, CancellationToken cancellationToken)
    {
        await _transport.EnsureSuccessAsync(response, $"PUT blob {repository}@{digest}", cancellationToken);
        if (RegistryTransport.Header(response, "Docker-Content-Digest") is { } reported && Digest.TryParse(reported, out var stored) && stored != digest)
        {
            throw _transport.Mismatch($"blob {repository}@{digest}", $"it stored {stored}");
        }
    }

    private async Task<UploadStart> StartUploadAsync(string repository, Digest digest, string? mountFrom, CancellationToken cancellationToken)
    {
        var query = mountFrom is null ? "" : $"?mount={Uri.EscapeDataString(digest.Value)}&from={Uri.EscapeDataString(mountFrom)}";
        var uri = new Uri(BaseAddress, $"v2/{repository}/blobs/uploads/{query}");
        var scope = mountFrom is null ? ScopeSet.Push(repository) : ScopeSet.Push(repository).Union(ScopeSet.Pull(mountFrom));
        using var response = await _transport.SendAsync(() => new HttpRequestMessage(HttpMethod.Post, uri), scope, HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (mountFrom is not null && response.StatusCode == HttpStatusCode.Created)
        {
            return new UploadStart(true, null, 0);
        }

        await _transport.EnsureSuccessAsync(response, $"POST blob upload {repository}", cancellationToken);
        var minimum = RegistryTransport.Header(response, "OCI-Chunk-Min-Length") is { } m && long.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0;
        return new UploadStart(false, _transport.Resolve(response.Headers.Location, $"POST blob upload {repository}"), minimum);
    }

    /// <summary>Best effort: an abandoned session only costs the registry some disk until it purges it.</summary>
    private async Task CancelUploadAsync(Uri location)
    {
        try
        {
            using var response = await _transport.SendAsync(() => new HttpRequestMessage(HttpMethod.Delete, location), ScopeSet.Empty, HttpCompletionOption.ResponseContentRead, CancellationToken.None, maxAttempts: 1);
        }
        catch (Exception e) when (e is ImmutableBuildException or HttpRequestException or IOException or OperationCanceledException)
        {
        }
    }

    private async Task<bool> ExistsQuietlyAsync(string repository, Digest digest, CancellationToken cancellationToken)
    {
        try
        {
            return await BlobExistsAsync(repository, digest, cancellationToken);
        }
        catch (ImmutableBuildException)
        {
            return false;
        }
    }

    private Uri BlobUri(string repository, Digest digest)
    {
        RegistryNames.ValidateRepository(repository);
        return new Uri(BaseAddress, $"v2/{repository}/blobs/{digest}");
    }

    private ImmutableBuildException LocalMismatch(string repository, Digest digest, long size, string reason) => RegistryErrors.Error(
        RegistryErrors.LocalContentMismatch,
        $"The content of blob {digest} ({size} bytes) for {repository} read as {reason}. A file changed while the image was being pushed, or the image was assembled wrongly: publish again.");

    private static Uri WithQuery(Uri location, string name, string value) =>
        new(location.AbsoluteUri + (string.IsNullOrEmpty(location.Query) ? "?" : "&") + name + "=" + Uri.EscapeDataString(value));

    private static async Task<int> ReadFullAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    internal static string FormatSize(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.0} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):0.00} GiB"),
    };

    private sealed record UploadStart(bool Mounted, Uri? Location, long MinimumChunk);
}
