using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using Immutable.Build.Images;

namespace Immutable.Build.Registry;

/// <summary>
/// An OCI distribution API client for one registry (host[:port]): manifests, blobs, tags, with
/// Basic or bearer-token authentication and bounded retries. Plain HTTP is used for loopback and
/// for the hosts in DOTNET_CONTAINER_INSECURE_REGISTRIES, HTTPS otherwise. Failures the user can
/// act on are <see cref="ImmutableBuildException"/>s with IMB2xxx codes (see <see cref="RegistryErrors"/>).
/// Safe for concurrent use.
/// </summary>
public sealed partial class RegistryClient : IDisposable
{
    private const int MaxManifestBytes = 8 * 1024 * 1024;
    private const int MaxErrorBodyBytes = 64 * 1024;

    private static readonly string[] ManifestMediaTypes =
    [
        MediaTypes.OciManifest,
        MediaTypes.OciIndex,
        MediaTypes.DockerManifest,
        MediaTypes.DockerManifestList,
    ];

    private static readonly ProductInfoHeaderValue UserAgent = new(
        "Immutable.Build",
        typeof(RegistryClient).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0");

    private readonly HttpClient _http;
    private readonly RegistryAuthenticator _auth;

    /// <summary>Creates a client for <paramref name="registry"/> (host[:port]; docker.io means Docker Hub).</summary>
    public RegistryClient(string registry, RegistryClientOptions? options = null)
    {
        Options = options ?? new RegistryClientOptions();
        Options.Validate();
        (Registry, BaseAddress, IsPlainHttp) = RegistryNames.ResolveRegistry(registry, Options.GetEnvironmentVariable ?? Environment.GetEnvironmentVariable);
        if (Options.Credential is not null)
        {
            Secrets.AddCredential(Options.Credential);
        }

        // Redirects are followed (blob GETs often go to object storage); .NET drops the
        // Authorization header on a redirect, so registry tokens never reach the storage host.
        HttpMessageHandler handler = new SocketsHttpHandler
        {
            ConnectTimeout = Options.ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AllowAutoRedirect = true,
            AutomaticDecompression = DecompressionMethods.None,
        };
        if (Options.WrapHandler is { } wrap)
        {
            handler = wrap(handler);
        }

        _http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _auth = new RegistryAuthenticator(this);
    }

    /// <summary>The registry as it appears in image references, e.g. <c>127.0.0.1:5000</c>.</summary>
    public string Registry { get; }

    /// <summary>The API root, <c>http(s)://host[:port]/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>True when the registry is spoken to over plain HTTP (loopback or listed as insecure).</summary>
    public bool IsPlainHttp { get; }

    internal RegistryClientOptions Options { get; }

    internal SecretRedactor Secrets { get; } = new();

    /// <summary>What a tag or digest points at; null when it does not exist.</summary>
    public async Task<ManifestInfo?> HeadManifestAsync(string repository, string reference, CancellationToken cancellationToken = default)
    {
        var uri = ManifestUri(repository, reference);
        using (var response = await SendAsync(() => ManifestRequest(HttpMethod.Head, uri), ScopeSet.Pull(repository), HttpCompletionOption.ResponseContentRead, cancellationToken))
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }

            await EnsureSuccessAsync(response, $"HEAD {repository}:{reference}", cancellationToken);
            if (Header(response, "Docker-Content-Digest") is { } header && Digest.TryParse(header, out var digest))
            {
                if (Digest.TryParse(reference, out var wanted) && wanted != digest)
                {
                    throw Mismatch($"manifest {repository}@{reference}", $"the registry reports {digest}");
                }

                return new ManifestInfo(digest, response.Content.Headers.ContentType?.MediaType ?? "", response.Content.Headers.ContentLength ?? 0);
            }
        }

        // The digest header is optional in the spec; the manifest's bytes are the authority.
        var manifest = await TryGetManifestAsync(repository, reference, cancellationToken);
        return manifest is null ? null : new ManifestInfo(manifest.Digest, manifest.MediaType, manifest.Content.LongLength);
    }

    /// <summary>The manifest exactly as stored; throws IMB2006 when it does not exist.</summary>
    public async Task<RegistryManifest> GetManifestAsync(string repository, string reference, CancellationToken cancellationToken = default) =>
        await TryGetManifestAsync(repository, reference, cancellationToken)
        ?? throw RegistryErrors.Error(
            RegistryErrors.ManifestNotFound,
            $"{Registry}/{repository}{(Digest.TryParse(reference, out _) ? "@" : ":")}{reference} does not exist. Check the repository, tag or digest (for a base image: ContainerBaseImage), and that the image was pushed to {Registry}.");

    /// <summary>
    /// The manifest exactly as stored, or null when it does not exist. Fetched by digest, the bytes
    /// are verified against it; fetched by tag, against the digest the registry reports.
    /// </summary>
    public async Task<RegistryManifest?> TryGetManifestAsync(string repository, string reference, CancellationToken cancellationToken = default)
    {
        var uri = ManifestUri(repository, reference);
        using var response = await SendAsync(() => ManifestRequest(HttpMethod.Get, uri), ScopeSet.Pull(repository), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        var what = $"manifest {repository}{(Digest.TryParse(reference, out _) ? "@" : ":")}{reference}";
        await EnsureSuccessAsync(response, "GET " + what, cancellationToken);
        var content = await ReadBoundedAsync(response, MaxManifestBytes, what, cancellationToken);
        var digest = Digest.Of(content);
        if (Digest.TryParse(reference, out var wanted) && wanted != digest)
        {
            throw Mismatch(what, $"content with digest {digest}");
        }

        if (Header(response, "Docker-Content-Digest") is { } reported && Digest.TryParse(reported, out var reportedDigest) && reportedDigest != digest)
        {
            throw Mismatch(what, $"content with digest {digest} while reporting {reportedDigest}");
        }

        return new RegistryManifest(content, ManifestMediaType(response, content, what), digest);
    }

    /// <summary>Stores a manifest under a tag or its digest and returns the digest the registry stored it as (checked against the bytes).</summary>
    public async Task<Digest> PutManifestAsync(string repository, string reference, byte[] manifest, string mediaType, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentException.ThrowIfNullOrEmpty(mediaType);
        var uri = ManifestUri(repository, reference);
        var digest = Digest.Of(manifest);
        if (Digest.TryParse(reference, out var wanted) && wanted != digest)
        {
            throw RegistryErrors.Error(RegistryErrors.LocalContentMismatch, $"The manifest to push as {repository}@{reference} has digest {digest}. Publish again.");
        }

        using var response = await SendAsync(
            () =>
            {
                var content = new ByteArrayContent(manifest);
                content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
                return new HttpRequestMessage(HttpMethod.Put, uri) { Content = content };
            },
            ScopeSet.Push(repository),
            HttpCompletionOption.ResponseContentRead,
            cancellationToken);
        await EnsureSuccessAsync(response, $"PUT manifest {repository}:{reference}", cancellationToken);
        if (Header(response, "Docker-Content-Digest") is { } reported && Digest.TryParse(reported, out var stored) && stored != digest)
        {
            throw Mismatch($"manifest {repository}:{reference}", $"it stored {stored}");
        }

        LogLine($"manifest {digest} stored as {Registry}/{repository}{(Digest.TryParse(reference, out _) ? "@" : ":")}{reference}");
        return digest;
    }

    /// <summary>Deletes a manifest by digest; false when it did not exist. Throws IMB2019 when the registry does not allow deletes.</summary>
    public async Task<bool> DeleteManifestAsync(string repository, Digest digest, CancellationToken cancellationToken = default)
    {
        var uri = ManifestUri(repository, digest.Value);
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Delete, uri), ScopeSet.Delete(repository), HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        if (response.StatusCode is HttpStatusCode.MethodNotAllowed)
        {
            throw RegistryErrors.Error(
                RegistryErrors.DeleteUnsupported,
                $"{Registry} does not allow deleting manifests (405 for {repository}@{digest}). Enable deletes in its configuration (storage.delete.enabled for a distribution registry) or delete through its own UI or API.");
        }

        await EnsureSuccessAsync(response, $"DELETE {repository}@{digest}", cancellationToken);
        LogLine($"deleted {Registry}/{repository}@{digest}");
        return true;
    }

    /// <summary>All tags of a repository, following Link-header pages; empty when the repository does not exist.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="pageSize">Tags per page (the registry's default when null).</param>
    /// <param name="cancellationToken">Cancels the listing.</param>
    public async Task<IReadOnlyList<string>> ListTagsAsync(string repository, int? pageSize = null, CancellationToken cancellationToken = default)
    {
        RegistryNames.ValidateRepository(repository);
        var tags = new List<string>();
        var next = new Uri(BaseAddress, $"v2/{repository}/tags/list{(pageSize is { } n ? $"?n={n}" : "")}");
        var seen = new HashSet<Uri>();
        while (next is not null && seen.Add(next))
        {
            var page = next;
            using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, page), ScopeSet.Pull(repository), HttpCompletionOption.ResponseContentRead, cancellationToken);
            if (response.StatusCode == HttpStatusCode.NotFound && tags.Count == 0)
            {
                return tags;
            }

            await EnsureSuccessAsync(response, $"GET tags of {repository}", cancellationToken);
            TagListResponse? list;
            try
            {
                list = JsonSerializer.Deserialize(await response.Content.ReadAsByteArrayAsync(cancellationToken), RegistryJsonContext.Default.TagListResponse);
            }
            catch (JsonException)
            {
                list = null;
            }

            if (list is null)
            {
                throw RegistryErrors.Error(RegistryErrors.RequestRejected, $"{Registry} answered the tag list of {repository} with something that is not a tag list. Check that {Registry} is an OCI registry.");
            }

            tags.AddRange(list.Tags ?? []);
            next = NextPage(response);
        }

        return tags;
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    /// <summary>Names the registry; never credentials.</summary>
    public override string ToString() => $"registry {Registry} ({BaseAddress.Scheme})";

    /// <summary>
    /// Sends with authentication: anonymous (or with what the last challenge asked for), then, on
    /// 401, once more with a fresh token or Basic credentials. 401 and 403 that remain become IMB2003,
    /// IMB2004 or IMB2005; any other status is returned to the caller.
    /// </summary>
    internal async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> create, ScopeSet scope, HttpCompletionOption completion, CancellationToken cancellationToken, int maxAttempts = 0)
    {
        var authorization = await _auth.AuthorizeAsync(scope, cancellationToken);
        var response = await SendRawAsync(WithAuthorization(create, authorization), completion, cancellationToken, maxAttempts);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            var what = Describe(response.RequestMessage);
            AuthenticationHeaderValue retry;
            try
            {
                retry = await _auth.OnUnauthorizedAsync(response, scope, authorization, what, cancellationToken);
            }
            finally
            {
                response.Dispose();
            }

            response = await SendRawAsync(WithAuthorization(create, retry), completion, cancellationToken, maxAttempts);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                using (response)
                {
                    throw await _auth.StillUnauthorizedAsync(response, what, cancellationToken);
                }
            }
        }

        if (response.StatusCode == HttpStatusCode.Forbidden)
        {
            using (response)
            {
                throw await _auth.ForbiddenAsync(Describe(response.RequestMessage), cancellationToken);
            }
        }

        return response;
    }

    /// <summary>
    /// Sends without authentication logic, retrying 429, 5xx, resets and timeouts with exponential
    /// backoff and jitter (429 and 503 honour Retry-After). Each attempt builds a fresh request, so
    /// bodies are re-read from their source. <paramref name="maxAttempts"/> overrides the option (1:
    /// no retry, for requests into an upload session, which restarts as a whole instead).
    /// </summary>
    internal async Task<HttpResponseMessage> SendRawAsync(Func<HttpRequestMessage> create, HttpCompletionOption completion, CancellationToken cancellationToken, int maxAttempts = 0)
    {
        var attempts = maxAttempts > 0 ? maxAttempts : Options.MaxAttempts;
        for (var attempt = 1; ; attempt++)
        {
            Exception? failure;
            string what;
            using (var request = create())
            {
                request.Headers.UserAgent.Add(UserAgent);
                what = Describe(request);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(Options.RequestTimeout);
                try
                {
                    var response = await _http.SendAsync(request, completion, timeout.Token);
                    if (!IsTransient(response.StatusCode))
                    {
                        return response;
                    }

                    if (attempt >= attempts)
                    {
                        using (response)
                        {
                            throw RegistryErrors.Error(
                                RegistryErrors.Unavailable,
                                $"{Registry} answered {(int)response.StatusCode} {response.ReasonPhrase} to {what} {attempt} times{await ErrorDetailAsync(response, cancellationToken)}. The registry or a proxy in front of it is overloaded or failing: retry later and check the registry's logs.");
                        }
                    }

                    var delay = RetryAfter(response) ?? Backoff(attempt);
                    LogLine($"{Registry} answered {(int)response.StatusCode} {response.ReasonPhrase} to {what}; retrying in {delay.TotalSeconds:0.0} s (attempt {attempt + 1} of {attempts})");
                    response.Dispose();
                    await Task.Delay(delay, Options.TimeProvider, cancellationToken);
                    continue;
                }
                catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
                {
                    failure = new TimeoutException($"no answer within {Options.RequestTimeout.TotalSeconds:0} s", e);
                }
                catch (Exception e) when (e is HttpRequestException or IOException)
                {
                    // A content stream of ours failing its own check is not a network problem.
                    failure = Inner<ImmutableBuildException>(e) is { } ours ? throw ours : e;
                }
            }

            if (attempt >= attempts)
            {
                throw RegistryErrors.Error(
                    RegistryErrors.Unreachable,
                    $"{Registry} could not be reached for {what} after {attempt} attempts: {Secrets.Redact(Reason(failure))}. Check the registry address and that it is running"
                    + (IsPlainHttp ? "." : $"; a plain-HTTP registry outside loopback must be listed in DOTNET_CONTAINER_INSECURE_REGISTRIES."),
                    failure);
            }

            var backoff = Backoff(attempt);
            LogLine($"{what} to {Registry} failed: {Secrets.Redact(Reason(failure))}; retrying in {backoff.TotalSeconds:0.0} s (attempt {attempt + 1} of {attempts})");
            await Task.Delay(backoff, Options.TimeProvider, cancellationToken);
        }
    }

    internal void LogLine(string line) => Options.Log?.Invoke(Secrets.Redact(line));

    /// <summary>Throws IMB2009 (or a more precise code) for a status that is not success.</summary>
    internal async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var detail = await ErrorDetailAsync(response, cancellationToken);
        if (detail.Contains("DIGEST_INVALID", StringComparison.Ordinal))
        {
            throw Mismatch(what, "a digest that differs from the content it received" + detail);
        }

        throw RegistryErrors.Error(
            RegistryErrors.RequestRejected,
            $"{Registry} refused {what} with {(int)response.StatusCode} {response.ReasonPhrase}{detail}. Fix what the registry names; for NAME_INVALID or NAME_UNKNOWN check the repository name, for MANIFEST_INVALID or BLOB_UNKNOWN push the image again.");
    }

    internal ImmutableBuildException Mismatch(string what, string actual) => RegistryErrors.Error(
        RegistryErrors.DigestMismatch,
        $"{Registry} returned {actual} for {what}; the digest does not match. A proxy or the registry altered the content: retry, and check caching proxies between this machine and {Registry}.");

    internal static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.NonValidated.TryGetValues(name, out var values) ? values.FirstOrDefault()?.Trim() :
        response.Content.Headers.NonValidated.TryGetValues(name, out var contentValues) ? contentValues.FirstOrDefault()?.Trim() : null;

    internal Uri Resolve(Uri? location, string what) =>
        location is null
            ? throw RegistryErrors.Error(RegistryErrors.RequestRejected, $"{Registry} answered {what} without a Location header. Check that {Registry} is an OCI distribution registry.")
            : location.IsAbsoluteUri ? location : new Uri(BaseAddress, location);

    private Uri ManifestUri(string repository, string reference)
    {
        RegistryNames.ValidateRepository(repository);
        RegistryNames.ValidateReference(reference);
        return new Uri(BaseAddress, $"v2/{repository}/manifests/{reference}");
    }

    private static HttpRequestMessage ManifestRequest(HttpMethod method, Uri uri)
    {
        var request = new HttpRequestMessage(method, uri);
        foreach (var type in ManifestMediaTypes)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        }

        return request;
    }

    private string ManifestMediaType(HttpResponseMessage response, byte[] content, string what)
    {
        var type = response.Content.Headers.ContentType?.MediaType;
        if (type is not null && ManifestMediaTypes.Contains(type))
        {
            return type;
        }

        ManifestMediaTypeProbe? probe = null;
        try
        {
            probe = JsonSerializer.Deserialize(content, RegistryJsonContext.Default.ManifestMediaTypeProbe);
        }
        catch (JsonException)
        {
        }

        // An OCI manifest may omit mediaType; schemaVersion 2 with a config then identifies it.
        if (probe?.MediaType is { } declared && ManifestMediaTypes.Contains(declared))
        {
            return declared;
        }

        throw RegistryErrors.Error(
            RegistryErrors.Unsupported,
            $"{Registry} answered {what} with media type '{type ?? probe?.MediaType ?? "none"}'; only OCI manifests and indexes and Docker v2 manifests and manifest lists are supported. Re-push the image with a current tool.");
    }

    private static Func<HttpRequestMessage> WithAuthorization(Func<HttpRequestMessage> create, AuthenticationHeaderValue? authorization) => () =>
    {
        var request = create();
        request.Headers.Authorization = authorization;
        return request;
    };

    private static bool IsTransient(HttpStatusCode status) =>
        status == HttpStatusCode.TooManyRequests
        || ((int)status >= 500 && status is not HttpStatusCode.NotImplemented and not HttpStatusCode.HttpVersionNotSupported);

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        TimeSpan? wait = header?.Delta ?? (header?.Date is { } date ? date - Options.TimeProvider.GetUtcNow() : null);
        if (wait is null)
        {
            return null;
        }

        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait > Options.MaxRetryAfter ? Options.MaxRetryAfter : wait;
    }

    /// <summary>Base * 2^(attempt-1), capped, with "equal jitter": half fixed, half random, so clients that failed together spread out.</summary>
    private TimeSpan Backoff(int attempt)
    {
        var exponential = Options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30));
        var capped = Math.Min(exponential, Options.RetryMaxDelay.TotalMilliseconds);
        var jitter = RandomNumberGenerator.GetInt32(0, 1001) / 1000.0;
        return TimeSpan.FromMilliseconds((capped / 2) + (capped / 2 * jitter));
    }

    private async Task<string> ErrorDetailAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        byte[] body;
        try
        {
            body = await ReadBoundedAsync(response, MaxErrorBodyBytes, "error", cancellationToken);
        }
        catch (Exception e) when (e is IOException or HttpRequestException or ImmutableBuildException)
        {
            return "";
        }

        RegistryErrorResponse? errors = null;
        try
        {
            errors = body.Length == 0 ? null : JsonSerializer.Deserialize(body, RegistryJsonContext.Default.RegistryErrorResponse);
        }
        catch (JsonException)
        {
        }

        var text = errors?.Errors is { Count: > 0 } list
            ? string.Join("; ", list.Select(e => $"{e.Code}: {e.Message}"))
            : "";
        text = Secrets.Redact(text);
        return text.Length == 0 ? "" : $" ({(text.Length > 500 ? text[..500] + "..." : text)})";
    }

    private async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, int limit, string what, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > limit)
        {
            throw RegistryErrors.Error(RegistryErrors.RequestRejected, $"{Registry} answered {what} with {response.Content.Headers.ContentLength} bytes, more than the {limit} this client accepts.");
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + n > limit)
            {
                throw RegistryErrors.Error(RegistryErrors.RequestRejected, $"{Registry} answered {what} with more than the {limit} bytes this client accepts.");
            }

            buffer.Write(chunk, 0, n);
        }

        return buffer.ToArray();
    }

    private Uri? NextPage(HttpResponseMessage response)
    {
        if (!response.Headers.NonValidated.TryGetValues("Link", out var links))
        {
            return null;
        }

        foreach (var link in links.SelectMany(l => l.Split(',')))
        {
            var open = link.IndexOf('<', StringComparison.Ordinal);
            var close = link.IndexOf('>', StringComparison.Ordinal);
            if (open < 0 || close < open || !link[close..].Contains("rel=\"next\"", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var target = link[(open + 1)..close];
            return Uri.TryCreate(target, UriKind.RelativeOrAbsolute, out var uri) ? (uri.IsAbsoluteUri ? uri : new Uri(BaseAddress, uri)) : null;
        }

        return null;
    }

    /// <summary>Method and path, never the query: upload locations carry opaque session state.</summary>
    private static string Describe(HttpRequestMessage? request) =>
        request?.RequestUri is { } uri ? $"{request.Method} {(uri.IsAbsoluteUri ? uri.AbsolutePath : uri.OriginalString.Split('?')[0])}" : "a request";

    private static string Reason(Exception e) => e switch
    {
        HttpRequestException { InnerException: { } inner } http => $"{http.Message} ({inner.Message})",
        _ => e.Message,
    };

    private static T? Inner<T>(Exception e)
        where T : Exception
    {
        for (Exception? current = e; current is not null; current = current.InnerException)
        {
            if (current is T match)
            {
                return match;
            }
        }

        return null;
    }
}
