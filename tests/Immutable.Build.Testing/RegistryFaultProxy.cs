using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Immutable.Build.Testing;

/// <summary>What a registry request is, as far as a fault plan is concerned.</summary>
public enum RegistryRequestKind
{
    /// <summary>GET /v2/.</summary>
    Ping,

    /// <summary>A request sent without credentials to a registry that wants them: the one its 401 challenge answers.</summary>
    AuthChallenge,

    /// <summary>A request to the token realm.</summary>
    Token,

    /// <summary>HEAD of a blob.</summary>
    BlobHead,

    /// <summary>POST of a new upload session.</summary>
    UploadStart,

    /// <summary>PATCH of a chunk into an upload session.</summary>
    ChunkPatch,

    /// <summary>The PUT that commits an upload session.</summary>
    UploadPut,

    /// <summary>POST ?mount= of a blob from another repository.</summary>
    Mount,

    /// <summary>HEAD of a manifest.</summary>
    ManifestHead,

    /// <summary>PUT of a manifest (a tag, a digest or the publish lease).</summary>
    ManifestPut,

    /// <summary>GET of the base image's manifest.</summary>
    BaseManifestGet,

    /// <summary>GET of the base image's config blob.</summary>
    BaseConfigGet,

    /// <summary>GET of one of the base image's layer blobs.</summary>
    BaseLayerGet,

    /// <summary>Anything else (DELETE of a session or the lease, GET of a pushed manifest...).</summary>
    Other,
}

/// <summary>What the proxy does to a request that matches its plan.</summary>
public enum RegistryFault
{
    /// <summary>429 without Retry-After; the registry never sees the request.</summary>
    TooManyRequests,

    /// <summary>429 with Retry-After: 1.</summary>
    TooManyRequestsRetryAfter,

    /// <summary>500.</summary>
    InternalError,

    /// <summary>502, as a load balancer with a dead backend answers.</summary>
    BadGateway,

    /// <summary>503.</summary>
    Unavailable,

    /// <summary>The request reaches the registry, then the connection is reset before any of its answer comes back.</summary>
    ResetBeforeBody,

    /// <summary>
    /// A reset in the middle of a body: of the request when it has one (half of it reaches the registry, then both
    /// connections die), else of the answer (headers and half of the body, then a reset).
    /// </summary>
    ResetMidBody,

    /// <summary>The request reaches the registry and its answer is held until the client gives up.</summary>
    Stall,

    /// <summary>The answer declares its full length, sends half and closes cleanly (an empty body is declared as 16 bytes).</summary>
    TruncatedBody,

    /// <summary>Other bytes of the same length instead of the blob asked for.</summary>
    WrongDigest,
}

/// <summary>Inject <paramref name="Fault"/> on the first <paramref name="Count"/> requests of <paramref name="Kind"/> it applies to.</summary>
public sealed record FaultPlan(RegistryRequestKind Kind, RegistryFault Fault, int Count)
{
    /// <summary>Every matching request, for as long as the proxy runs.</summary>
    public const int Always = int.MaxValue;

    public override string ToString() => $"{Kind} x {Fault} x {(Count == Always ? "always" : Count.ToString(System.Globalization.CultureInfo.InvariantCulture))}";
}

/// <summary>
/// A loopback HTTP/1.1 proxy in front of a real registry that breaks one kind of request on purpose. Everything else is
/// forwarded as it is, so the registry behind it decides what is stored; only the fault plan's requests are answered by
/// the proxy itself (a status, a reset, a stall, a cut or altered body). Each answer closes its connection, so a fault
/// never leaks into the next request. Written over sockets because resets and half bodies are what it is for.
/// </summary>
public sealed class RegistryFaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly HttpClient _upstream;
    private readonly string _upstreamAddress;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly List<string> _log = [];
    private readonly Task _accept;
    private int _matched;
    private int _injected;

    /// <summary>Forwards to the registry at <paramref name="upstream"/> (host:port, plain HTTP on loopback).</summary>
    public RegistryFaultProxy(string upstream)
    {
        _upstreamAddress = upstream;
        _upstream = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None, UseCookies = false })
        {
            Timeout = TimeSpan.FromSeconds(60),
        };
        _listener.Start();
        Address = $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _accept = AcceptAsync();
    }

    /// <summary>host:port of the proxy.</summary>
    public string Address { get; }

    /// <summary>The fault to inject; null forwards everything.</summary>
    public FaultPlan? Plan { get; set; }

    /// <summary>The repository the base image is read from (its manifest and blob GETs are kinds of their own).</summary>
    public string? BaseRepository { get; set; }

    /// <summary>The base image's layer digests, which tell a layer GET from the config GET.</summary>
    public IReadOnlySet<string> BaseLayers { get; set; } = new HashSet<string>();

    /// <summary>True when the registry behind wants credentials, so a request without them is an auth challenge.</summary>
    public bool UpstreamRequiresAuth { get; set; }

    /// <summary>
    /// A hostile answer of the proxy's own for a request (given its kind, method and path with query), instead of the
    /// registry's; null forwards it (or applies the fault plan). Every answer given counts in <see cref="Injected"/>.
    /// </summary>
    public Func<RegistryRequestKind, string, string, HostileAnswer?>? Answer { get; set; }

    /// <summary>How long a stalled answer is held at most when the client does not hang up first.</summary>
    public TimeSpan StallLimit { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times the plan's fault was injected.</summary>
    public int Injected => Volatile.Read(ref _injected);

    /// <summary>Every request seen, as "KIND METHOD path[: fault]", in arrival order.</summary>
    public IReadOnlyList<string> Log
    {
        get
        {
            lock (_log)
            {
                return [.. _log];
            }
        }
    }

    /// <summary>The kind of a request, from its method, path, query and whether it carries credentials.</summary>
    public RegistryRequestKind Classify(string method, string target, bool hasAuthorization)
    {
        var path = target.Split('?')[0];
        var query = target.Contains('?', StringComparison.Ordinal) ? target[(target.IndexOf('?', StringComparison.Ordinal) + 1)..] : "";
        if (UpstreamRequiresAuth && !hasAuthorization)
        {
            return RegistryRequestKind.AuthChallenge;
        }

        if (path == "/v2/" || path == "/v2")
        {
            return RegistryRequestKind.Ping;
        }

        if (!path.StartsWith("/v2/", StringComparison.Ordinal))
        {
            return RegistryRequestKind.Token;
        }

        var uploads = path.IndexOf("/blobs/uploads/", StringComparison.Ordinal);
        if (uploads > 0)
        {
            return method switch
            {
                "POST" => query.Contains("mount=", StringComparison.Ordinal) ? RegistryRequestKind.Mount : RegistryRequestKind.UploadStart,
                "PATCH" => RegistryRequestKind.ChunkPatch,
                "PUT" => RegistryRequestKind.UploadPut,
                _ => RegistryRequestKind.Other,
            };
        }

        var blobs = path.IndexOf("/blobs/", StringComparison.Ordinal);
        var manifests = path.IndexOf("/manifests/", StringComparison.Ordinal);
        var repository = blobs > 0 ? path[4..blobs] : manifests > 0 ? path[4..manifests] : null;
        var isBase = repository is not null && repository == BaseRepository;
        return (method, blobs > 0, manifests > 0) switch
        {
            ("HEAD", true, _) => RegistryRequestKind.BlobHead,
            ("HEAD", _, true) => RegistryRequestKind.ManifestHead,
            ("PUT", _, true) => RegistryRequestKind.ManifestPut,
            ("GET", _, true) when isBase => RegistryRequestKind.BaseManifestGet,
            ("GET", true, _) when isBase => BaseLayers.Contains(path[(blobs + "/blobs/".Length)..]) ? RegistryRequestKind.BaseLayerGet : RegistryRequestKind.BaseConfigGet,
            _ => RegistryRequestKind.Other,
        };
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accept;
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException or OperationCanceledException)
        {
        }

        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }

        await Task.WhenAll(connections.Select(c => c.ContinueWith(_ => { }, TaskScheduler.Default)));
        _upstream.Dispose();
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var socket = await _listener.AcceptSocketAsync(_stop.Token);
            lock (_connections)
            {
                _connections.RemoveAll(c => c.IsCompleted);
                _connections.Add(ServeAsync(socket));
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        try
        {
            var request = await ProxiedRequest.ReadAsync(stream, _stop.Token);
            if (request is null)
            {
                return;
            }

            var kind = Classify(request.Method, request.Target, request.Header("Authorization") is not null);
            if (Answer?.Invoke(kind, request.Method, request.Target) is { } hostile)
            {
                Interlocked.Increment(ref _injected);
                lock (_log)
                {
                    _log.Add($"{kind} {request.Method} {request.Target.Split('?')[0]}: hostile {hostile.Status}");
                }

                await WriteHostileAsync(stream, request, hostile);
                return;
            }

            var fault = Take(kind, request);
            lock (_log)
            {
                _log.Add($"{kind} {request.Method} {request.Target.Split('?')[0]}{(fault is null ? "" : ": " + fault)}");
            }

            await AnswerAsync(socket, stream, request, fault);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or HttpRequestException)
        {
        }
    }

    /// <summary>Whether this request gets the fault: only requests the fault applies to count towards the plan's N.</summary>
    private RegistryFault? Take(RegistryRequestKind kind, ProxiedRequest request)
    {
        if (Plan is not { } plan || plan.Kind != kind || !Applies(plan.Fault, request))
        {
            return null;
        }

        if (Interlocked.Increment(ref _matched) > plan.Count)
        {
            return null;
        }

        Interlocked.Increment(ref _injected);
        return plan.Fault;
    }

    private static bool Applies(RegistryFault fault, ProxiedRequest request) => fault switch
    {
        RegistryFault.ResetMidBody => request.Body.Length > 1 || request.Method == "GET",
        RegistryFault.TruncatedBody => request.Method != "HEAD",
        RegistryFault.WrongDigest => request.Method == "GET",
        _ => true,
    };

    private async Task AnswerAsync(Socket socket, NetworkStream stream, ProxiedRequest request, RegistryFault? fault)
    {
        switch (fault)
        {
            case RegistryFault.TooManyRequests:
                await WriteErrorAsync(stream, 429, "Too Many Requests", "TOOMANYREQUESTS", []);
                return;
            case RegistryFault.TooManyRequestsRetryAfter:
                await WriteErrorAsync(stream, 429, "Too Many Requests", "TOOMANYREQUESTS", [("Retry-After", "1")]);
                return;
            case RegistryFault.InternalError:
                await WriteErrorAsync(stream, 500, "Internal Server Error", "UNKNOWN", []);
                return;
            case RegistryFault.BadGateway:
                await WriteErrorAsync(stream, 502, "Bad Gateway", "UNKNOWN", []);
                return;
            case RegistryFault.Unavailable:
                await WriteErrorAsync(stream, 503, "Service Unavailable", "UNAVAILABLE", []);
                return;
            case RegistryFault.ResetMidBody when request.Body.Length > 1:
                await ForwardHalfAndAbortAsync(request);
                Reset(socket);
                return;
        }

        using var response = await ForwardAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync(_stop.Token);
        switch (fault)
        {
            case RegistryFault.ResetBeforeBody:
                Reset(socket);
                return;
            case RegistryFault.Stall:
                await StallAsync(stream);
                Reset(socket);
                return;
            case RegistryFault.ResetMidBody:
                await WriteHeadAsync(stream, request, response, body.Length);
                await stream.WriteAsync(body.AsMemory(0, body.Length / 2), _stop.Token);
                await stream.FlushAsync(_stop.Token);
                Reset(socket);
                return;
            case RegistryFault.TruncatedBody:
                await WriteHeadAsync(stream, request, response, body.Length == 0 ? 16 : body.Length);
                await stream.WriteAsync(body.AsMemory(0, body.Length / 2), _stop.Token);
                await stream.FlushAsync(_stop.Token);
                socket.Shutdown(SocketShutdown.Both);
                return;
            case RegistryFault.WrongDigest:
                body = body.Select(b => (byte)~b).ToArray();
                break;
        }

        await WriteHeadAsync(stream, request, response, body.Length);
        if (request.Method != "HEAD")
        {
            await stream.WriteAsync(body, _stop.Token);
        }

        await stream.FlushAsync(_stop.Token);
    }

    private HttpRequestMessage Upstream(ProxiedRequest request, HttpContent? content)
    {
        var message = new HttpRequestMessage(new HttpMethod(request.Method), new Uri($"http://{_upstreamAddress}{request.Target}"));
        foreach (var (name, value) in request.Headers)
        {
            if (name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Connection", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!message.Headers.TryAddWithoutValidation(name, value))
            {
                content?.Headers.TryAddWithoutValidation(name, value);
            }
        }

        message.Content = content;
        return message;
    }

    private async Task<HttpResponseMessage> ForwardAsync(ProxiedRequest request)
    {
        // A request with no body goes without one: a Content-Length: 0 on a POST is harmless, on a GET it is not sent at all.
        var content = request.Body.Length > 0 || request.Method is "PUT" or "PATCH" or "POST" ? new ByteArrayContent(request.Body) : null;
        using var message = Upstream(request, content);
        return await _upstream.SendAsync(message, HttpCompletionOption.ResponseContentRead, _stop.Token);
    }

    private async Task ForwardHalfAndAbortAsync(ProxiedRequest request)
    {
        using var message = Upstream(request, new HalfThenFail(request.Body));
        try
        {
            using var _ = await _upstream.SendAsync(message, _stop.Token);
        }
        catch (HttpRequestException)
        {
            // Expected: the body was cut on purpose.
        }
    }

    private async Task StallAsync(NetworkStream stream)
    {
        // The client sends nothing more on this connection; a read ends when it hangs up.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        limit.CancelAfter(StallLimit);
        try
        {
            while (await stream.ReadAsync(new byte[256], limit.Token) > 0)
            {
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
        }
    }

    private async Task WriteHeadAsync(NetworkStream stream, ProxiedRequest request, HttpResponseMessage response, int length)
    {
        var head = new StringBuilder();
        head.Append(System.Globalization.CultureInfo.InvariantCulture, $"HTTP/1.1 {(int)response.StatusCode} {response.ReasonPhrase}\r\n");
        foreach (var (name, values) in response.Headers.NonValidated.Concat(response.Content.Headers.NonValidated))
        {
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) || name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            foreach (var value in values)
            {
                // Upload locations name the registry itself; the client must keep talking through the proxy.
                var rewritten = name.Equals("Location", StringComparison.OrdinalIgnoreCase) ? value.Replace(_upstreamAddress, Address, StringComparison.Ordinal) : value;
                head.Append(name).Append(": ").Append(rewritten).Append("\r\n");
            }
        }

        // A HEAD answer declares the length of the GET it stands for.
        var declared = request.Method == "HEAD" ? response.Content.Headers.ContentLength ?? 0 : length;
        head.Append(System.Globalization.CultureInfo.InvariantCulture, $"Content-Length: {declared}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), _stop.Token);
    }

    private async Task WriteHostileAsync(NetworkStream stream, ProxiedRequest request, HostileAnswer answer)
    {
        var head = new StringBuilder();
        head.Append(System.Globalization.CultureInfo.InvariantCulture, $"HTTP/1.1 {answer.Status} Hostile\r\nContent-Length: {answer.Body.Length}\r\nConnection: close\r\n");
        foreach (var (name, value) in answer.Headers)
        {
            head.Append(name).Append(": ").Append(value.Replace("{proxy}", Address, StringComparison.Ordinal)).Append("\r\n");
        }

        head.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), _stop.Token);
        if (request.Method != "HEAD")
        {
            await stream.WriteAsync(answer.Body, _stop.Token);
        }

        await stream.FlushAsync(_stop.Token);
    }

    private async Task WriteErrorAsync(NetworkStream stream, int status, string reason, string code, (string Name, string Value)[] headers)
    {
        var body = Encoding.UTF8.GetBytes($"{{\"errors\":[{{\"code\":\"{code}\",\"message\":\"injected by the fault proxy\"}}]}}");
        var head = new StringBuilder();
        head.Append(System.Globalization.CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n");
        foreach (var (name, value) in headers)
        {
            head.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        head.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), _stop.Token);
        await stream.WriteAsync(body, _stop.Token);
        await stream.FlushAsync(_stop.Token);
    }

    private static void Reset(Socket socket)
    {
        // Linger 0 turns the close into a TCP reset, what a crashed proxy looks like.
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }

    /// <summary>A request body that sends its first half and then fails, so the upstream connection dies mid-body.</summary>
    private sealed class HalfThenFail(byte[] body) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(body.AsMemory(0, body.Length / 2));
            await stream.FlushAsync();
            throw new IOException("the fault proxy cut the request body");
        }

        protected override bool TryComputeLength(out long length)
        {
            length = body.Length;
            return true;
        }
    }
}

/// <summary>An answer the proxy makes up: a status, headers (<c>{proxy}</c> in a value becomes the proxy's host:port) and a body.</summary>
public sealed record HostileAnswer(int Status, IReadOnlyList<(string Name, string Value)> Headers, byte[] Body);

/// <summary>One HTTP/1.1 request read off a socket: request line, headers, and a Content-Length body.</summary>
internal sealed record ProxiedRequest(string Method, string Target, IReadOnlyList<(string Name, string Value)> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.Where(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();

    public static async Task<ProxiedRequest?> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (!EndsWithBlankLine(head))
        {
            if (await stream.ReadAsync(one, cancellationToken) == 0)
            {
                return null;
            }

            head.Add(one[0]);
            if (head.Count > 64 * 1024)
            {
                throw new IOException("request head too large");
            }
        }

        var lines = Encoding.ASCII.GetString([.. head]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var parts = lines[0].Split(' ');
        var headers = lines.Skip(1).Select(l => (l[..l.IndexOf(':', StringComparison.Ordinal)].Trim(), l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim())).ToList();
        if (headers.Any(h => h.Item1.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)))
        {
            throw new IOException("chunked request bodies are not supported by the fault proxy");
        }

        var length = headers.Where(h => h.Item1.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(h => int.Parse(h.Item2, System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        var body = new byte[length];
        await stream.ReadExactlyAsync(body, cancellationToken);
        return new ProxiedRequest(parts[0], parts[1], headers, body);
    }

    private static bool EndsWithBlankLine(List<byte> head) =>
        head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n';
}
