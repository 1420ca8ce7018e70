using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text.Json;

namespace Immutable.Build.Registry;

/// <summary>
/// The wire under a <see cref="RegistryClient"/>: one HTTP client for one registry, authentication (a
/// 401 is answered once with a fresh token or Basic credentials), bounded retries of transient failures
/// through <see cref="Retry"/>, and the IMB2xxx errors a failed exchange becomes.
/// </summary>
internal sealed class RegistryTransport : IDisposable
{
    private const int MaxErrorBodyBytes = 64 * 1024;
    private const int MaxRedirects = 5;

    private static readonly ProductInfoHeaderValue UserAgent = new(
        "Immutable.Build",
        typeof(RegistryTransport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0");

    private readonly HttpClient _http;
    private readonly RegistryAuthenticator _auth;

    public RegistryTransport(string registry, RegistryClientOptions options)
    {
        Options = options;
        Options.Validate();
        RetryPolicy = Options.ToRetryPolicy();
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
            MaxAutomaticRedirections = MaxRedirects,
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

    public RegistryClientOptions Options { get; }

    /// <summary>Attempts and the jittered, capped exponential backoff of <see cref="Options"/>.</summary>
    public RetryPolicy RetryPolicy { get; }

    public SecretRedactor Secrets { get; } = new();

    public void Dispose() => _http.Dispose();

    /// <summary>
    /// Sends with authentication: anonymous (or with what the last challenge asked for), then, on
    /// 401, once more with a fresh token or Basic credentials. 401 and 403 that remain become IMB2003,
    /// IMB2004 or IMB2005; any other status is returned to the caller.
    /// </summary>
    public async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> create, ScopeSet scope, HttpCompletionOption completion, CancellationToken cancellationToken, int maxAttempts = 0)
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
    /// backoff and jitter (429 and 503 honour Retry-After, up to MaxRetryAfter). Each attempt builds a fresh
    /// request, so bodies are re-read from their source. <paramref name="maxAttempts"/> overrides the option
    /// (1: no retry, for requests into an upload session, which restarts as a whole instead).
    /// </summary>
    public Task<HttpResponseMessage> SendRawAsync(Func<HttpRequestMessage> create, HttpCompletionOption completion, CancellationToken cancellationToken, int maxAttempts = 0)
    {
        var policy = maxAttempts > 0 ? RetryPolicy with { MaxAttempts = maxAttempts } : RetryPolicy;
        var what = "a request";
        return Retry.RunAsync(
            policy,
            Options.TimeProvider,
            async (_, ct) =>
            {
                using var request = create();
                request.Headers.UserAgent.Add(UserAgent);
                what = Describe(request);
                // On the options' clock, like the backoff, so a test drives a request that never answers.
                using var deadline = new CancellationTokenSource(Options.RequestTimeout, Options.TimeProvider);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
                try
                {
                    return await _http.SendAsync(request, completion, timeout.Token);
                }
                catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
                {
                    throw new TimeoutException($"no answer within {Options.RequestTimeout.TotalSeconds:0} s", e);
                }
                catch (Exception e) when ((e is HttpRequestException or IOException) && Inner<ImmutableBuildException>(e) is { } ours)
                {
                    // A content stream of ours failing its own check is not a network problem.
                    throw ours;
                }
            },
            outcome => DecideAsync(outcome, what, cancellationToken),
            cancellationToken,
            (outcome, delay, reason) => LogLine($"{reason}; retrying in {delay.TotalSeconds:0.0} s (attempt {outcome.Attempt + 1} of {outcome.MaxAttempts})"));
    }

    public void LogLine(string line) => Options.Log?.Invoke(Secrets.Redact(line));

    /// <summary>Throws IMB2009 (or a more precise code) for a status that is not success.</summary>
    public async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        if ((int)response.StatusCode is >= 300 and < 400)
        {
            // The handler follows up to MaxRedirects hops; a 3xx that reaches here is a loop or a hop it refused to take.
            throw RegistryErrors.Error(
                RegistryErrors.RedirectLoop,
                $"{Registry} answered {what} with {(int)response.StatusCode} {response.ReasonPhrase} after following up to {MaxRedirects} redirects{(response.Headers.Location is { } to ? $" (last to {to.GetLeftPart(UriPartial.Path)})" : "")}: the redirects loop, go on too long, or lead from HTTPS to plain HTTP. Fix the redirect configuration of the registry or of the proxy or storage in front of it.");
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

    public ImmutableBuildException Mismatch(string what, string actual) => RegistryErrors.Error(
        RegistryErrors.DigestMismatch,
        $"{Registry} returned {actual} for {what}; the digest does not match. A proxy or the registry altered the content: retry, and check caching proxies between this machine and {Registry}.");

    public static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.NonValidated.TryGetValues(name, out var values) ? values.FirstOrDefault()?.Trim() :
        response.Content.Headers.NonValidated.TryGetValues(name, out var contentValues) ? contentValues.FirstOrDefault()?.Trim() : null;

    /// <summary>
    /// Where an upload goes next. Only to the registry itself: a session Location on another host, scheme or port is
    /// refused (IMB2031) before anything connects there, so a hostile or misconfigured answer cannot send the image, the
    /// credentials or even a DNS query elsewhere.
    /// </summary>
    public Uri Resolve(Uri? location, string what)
    {
        if (location is null)
        {
            throw RegistryErrors.Error(RegistryErrors.RequestRejected, $"{Registry} answered {what} without a Location header. Check that {Registry} is an OCI distribution registry.");
        }

        var target = location.IsAbsoluteUri ? location : new Uri(BaseAddress, location);
        if (!string.Equals(target.Scheme, BaseAddress.Scheme, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(target.IdnHost, BaseAddress.IdnHost, StringComparison.OrdinalIgnoreCase)
            || target.Port != BaseAddress.Port)
        {
            throw RegistryErrors.Error(
                RegistryErrors.ForeignLocation,
                $"{Registry} answered {what} with a Location on {target.Scheme}://{target.Authority}, not on the registry ({BaseAddress.Scheme}://{BaseAddress.Authority}); it was not followed and nothing was sent there. Fix the registry's externally visible address (http.host for a distribution registry, or the forwarded host headers of a proxy in front of it).");
        }

        return target;
    }

    /// <summary>Whether to try a request again: transient statuses and network failures until the last attempt, which becomes IMB2002 or IMB2001.</summary>
    private async ValueTask<RetryDecision> DecideAsync(RetryOutcome<HttpResponseMessage> outcome, string what, CancellationToken cancellationToken)
    {
        if (outcome.Result is { } response)
        {
            if (!IsTransient(response.StatusCode))
            {
                return RetryDecision.Stop;
            }

            if (outcome.IsLast)
            {
                using (response)
                {
                    throw RegistryErrors.Error(
                        RegistryErrors.Unavailable,
                        $"{Registry} answered {(int)response.StatusCode} {response.ReasonPhrase} to {what} {outcome.Attempt} times{await ErrorDetailAsync(response, cancellationToken)}. The registry or a proxy in front of it is overloaded or failing: retry later and check the registry's logs.");
                }
            }

            return RetryDecision.Retry($"{Registry} answered {(int)response.StatusCode} {response.ReasonPhrase} to {what}", RetryAfter(response));
        }

        var failure = outcome.Error;
        if (failure is not (TimeoutException or HttpRequestException or IOException))
        {
            return RetryDecision.Stop;
        }

        // A name that does not resolve or a network with no route does not heal within a publish: fail now, not after the backoff.
        var permanent = IsPermanentNetworkFailure(failure);
        if (outcome.IsLast || permanent)
        {
            throw RegistryErrors.Error(
                RegistryErrors.Unreachable,
                $"{Registry} could not be reached for {what} {(permanent ? "(not retried: the name does not resolve or there is no route to it)" : $"after {outcome.Attempt} attempts")}: {Secrets.Redact(Reason(failure))}. Check the registry address and that it is running"
                + (IsPlainHttp ? "." : $"; a plain-HTTP registry outside loopback must be listed in DOTNET_CONTAINER_INSECURE_REGISTRIES."),
                failure);
        }

        return RetryDecision.Retry($"{what} to {Registry} failed: {Secrets.Redact(Reason(failure))}");
    }

    /// <summary>DNS failures and missing routes; refused, reset and timed-out connections stay retryable (a registry that is starting).</summary>
    internal static bool IsPermanentNetworkFailure(Exception failure)
    {
        if (failure is HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError })
        {
            return true;
        }

        return Inner<System.Net.Sockets.SocketException>(failure)?.SocketErrorCode is
            System.Net.Sockets.SocketError.HostNotFound
            or System.Net.Sockets.SocketError.NoData
            or System.Net.Sockets.SocketError.TryAgain
            or System.Net.Sockets.SocketError.NetworkUnreachable
            or System.Net.Sockets.SocketError.HostUnreachable
            or System.Net.Sockets.SocketError.NetworkDown;
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

    public async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, int limit, string what, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > limit)
        {
            throw TooLarge(what, limit);
        }

        await using var stream = Body(await response.Content.ReadAsStreamAsync(cancellationToken), what);
        return await ReadAtMostAsync(stream, limit, () => TooLarge(what, limit), cancellationToken);
    }

    private ImmutableBuildException TooLarge(string what, int limit) => RegistryErrors.Error(
        RegistryErrors.AnswerTooLarge,
        $"{Registry} answered {what} with more than the {RegistryClient.FormatSize(limit)} this client accepts. Check what the registry serves there: a real answer is a few KiB; a proxy or misconfigured registry serving a page or a file instead is the usual cause.");

    /// <summary>A response body whose reads fail with IMB2001 (marked <see cref="BodyCutException"/>) when the answer is cut off.</summary>
    public Stream Body(Stream stream, string what) => new ResponseBodyStream(stream, (read, cut) => RegistryErrors.Error(
        RegistryErrors.Unreachable,
        $"{Registry} broke off its answer to {what} after {read} bytes: {Secrets.Redact(Reason(cut.InnerException ?? cut))}. The connection to the registry, or a proxy in front of it, is dropping: retry, and check the network and the registry's logs.",
        cut));

    /// <summary>
    /// Runs an exchange that reads its answer's body to the end after the transport's own retries are over: a body cut off
    /// mid-way (IMB2001 from <see cref="Body"/>) is asked for again, with the same attempts and backoff as a failed request.
    /// </summary>
    public Task<T> RetryCutBodyAsync<T>(string what, Func<CancellationToken, Task<T>> exchange, CancellationToken cancellationToken) =>
        Retry.RunAsync(
            RetryPolicy,
            Options.TimeProvider,
            (_, ct) => exchange(ct),
            outcome => ValueTask.FromResult(IsCutBody(outcome.Error) ? RetryDecision.Retry(outcome.Error!.Message) : RetryDecision.Stop),
            cancellationToken,
            (outcome, delay, _) => LogLine($"the answer to {what} from {Registry} was cut off; asking again in {delay.TotalSeconds:0.0} s (attempt {outcome.Attempt + 1} of {outcome.MaxAttempts})"));

    /// <summary>True for the IMB2001 of a body cut off after its headers arrived.</summary>
    public static bool IsCutBody(Exception? e) => e is ImmutableBuildException { Code: RegistryErrors.Unreachable, InnerException: BodyCutException };

    /// <summary>Reads a whole stream into memory, failing with <paramref name="tooLarge"/> as soon as it passes <paramref name="limit"/> bytes (a length header can lie).</summary>
    internal static async Task<byte[]> ReadAtMostAsync(Stream stream, long limit, Func<Exception> tooLarge, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + n > limit)
            {
                throw tooLarge();
            }

            buffer.Write(chunk, 0, n);
        }

        return buffer.ToArray();
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
