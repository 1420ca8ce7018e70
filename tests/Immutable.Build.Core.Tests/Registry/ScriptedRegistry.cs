using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>One request as the scripted server received it.</summary>
internal sealed record RecordedRequest(string Method, string Target, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    public string Path => Target.Split('?')[0];

    public string? Header(string name) =>
        Headers.Where(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();

    public string BodyText => Encoding.UTF8.GetString(Body);

    public override string ToString() => $"{Method} {Target}";
}

/// <summary>What the scripted server answers: a status with headers and body, or a connection reset.</summary>
internal sealed record Reply(int StatusCode, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body, bool Reset = false)
{
    /// <summary>How long the server sits on the request before answering (a hung upstream).</summary>
    public TimeSpan Delay { get; init; }

    public static Reply Status(int status, params (string Name, string Value)[] headers) =>
        new(status, headers.Select(h => KeyValuePair.Create(h.Name, h.Value)).ToList(), []);

    public static Reply Json(int status, string json, params (string Name, string Value)[] headers) =>
        new(status, headers.Select(h => KeyValuePair.Create(h.Name, h.Value)).Append(KeyValuePair.Create("Content-Type", "application/json")).ToList(), Encoding.UTF8.GetBytes(json));

    public static Reply Bytes(int status, byte[] body, params (string Name, string Value)[] headers) =>
        new(status, headers.Select(h => KeyValuePair.Create(h.Name, h.Value)).ToList(), body);

    public static Reply ConnectionReset() => new(0, [], [], Reset: true);
}

/// <summary>
/// A strict loopback HTTP/1.1 server for protocol tests: it answers a fixed script of expected
/// requests in order, records every request, and notes anything unexpected (wrong method, path,
/// query or a failed header check) as a failure instead of answering it. Written over TcpListener
/// because a test needs real connection resets, which HttpListener cannot produce on Linux.
/// </summary>
internal sealed class ScriptedRegistry : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Queue<(string Method, string Target, Func<RecordedRequest, Reply> Respond)> _script = new();
    private readonly List<string> _failures = [];
    private readonly List<RecordedRequest> _requests = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accept;

    public ScriptedRegistry()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accept = AcceptAsync();
    }

    public int Port { get; }

    public string Address => $"127.0.0.1:{Port}";

    public string Realm => $"http://{Address}/token";

    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_script)
            {
                return _requests.ToList();
            }
        }
    }

    /// <summary>Expects <paramref name="method"/> on <paramref name="target"/> (path and query; query order ignored) next.</summary>
    public ScriptedRegistry Expect(string method, string target, Func<RecordedRequest, Reply> respond)
    {
        lock (_script)
        {
            _script.Enqueue((method, target, respond));
        }

        return this;
    }

    public ScriptedRegistry Expect(string method, string target, Reply reply) => Expect(method, target, _ => reply);

    /// <summary>Every scripted request arrived, in order, and nothing else did.</summary>
    public void AssertComplete()
    {
        lock (_script)
        {
            Assert.True(_failures.Count == 0, "unexpected requests:\n" + string.Join('\n', _failures) + "\nall requests:\n" + string.Join('\n', _requests));
            Assert.True(_script.Count == 0, $"{_script.Count} scripted request(s) never arrived, first: {(_script.Count > 0 ? _script.Peek().Method + " " + _script.Peek().Target : "")}\nall requests:\n" + string.Join('\n', _requests));
        }
    }

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
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var socket = await _listener.AcceptSocketAsync(_stop.Token);
            lock (_connections)
            {
                _connections.Add(ServeAsync(socket));
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        using var stream = new NetworkStream(socket, ownsSocket: false);
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var request = await ReadRequestAsync(stream);
                if (request is null)
                {
                    return;
                }

                var reply = Answer(request);
                if (reply.Reset)
                {
                    // Linger 0 turns the close into a TCP reset, what a crashed proxy looks like.
                    socket.LingerState = new LingerOption(true, 0);
                    socket.Close();
                    return;
                }

                if (reply.Delay > TimeSpan.Zero)
                {
                    await Task.Delay(reply.Delay, _stop.Token);
                }

                await WriteReplyAsync(stream, request, reply);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    private Reply Answer(RecordedRequest request)
    {
        lock (_script)
        {
            _requests.Add(request);
            if (_script.Count == 0)
            {
                _failures.Add($"{request} (script exhausted)");
                return Reply.Json(500, "{\"errors\":[{\"code\":\"UNSCRIPTED\",\"message\":\"not in the test script\"}]}");
            }

            var (method, target, respond) = _script.Peek();
            if (method != request.Method || !SameTarget(target, request.Target))
            {
                _failures.Add($"{request} (expected {method} {target})");
                return Reply.Json(500, "{\"errors\":[{\"code\":\"UNSCRIPTED\",\"message\":\"not the scripted request\"}]}");
            }

            _script.Dequeue();
            try
            {
                return respond(request);
            }
            catch (Exception e)
            {
                _failures.Add($"{request}: {e.Message}");
                return Reply.Json(500, "{\"errors\":[{\"code\":\"CHECK_FAILED\",\"message\":\"a test check failed\"}]}");
            }
        }
    }

    private static bool SameTarget(string expected, string actual)
    {
        static (string Path, List<string> Query) Split(string target)
        {
            var q = target.IndexOf('?', StringComparison.Ordinal);
            var path = q < 0 ? target : target[..q];
            var query = q < 0 ? [] : target[(q + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).Order(StringComparer.Ordinal).ToList();
            return (Uri.UnescapeDataString(path), query);
        }

        var (ep, eq) = Split(expected);
        var (ap, aq) = Split(actual);
        return ep == ap && eq.SequenceEqual(aq);
    }

    private static async Task<RecordedRequest?> ReadRequestAsync(Stream stream)
    {
        var requestLine = await ReadLineAsync(stream);
        if (string.IsNullOrEmpty(requestLine))
        {
            return null;
        }

        var parts = requestLine.Split(' ');
        var headers = new List<KeyValuePair<string, string>>();
        string? line;
        while (!string.IsNullOrEmpty(line = await ReadLineAsync(stream)))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers.Add(KeyValuePair.Create(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }

        string? Get(string name) => headers.Where(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();
        var body = new MemoryStream();
        if (Get("Content-Length") is { } length)
        {
            await CopyExactlyAsync(stream, body, long.Parse(length, System.Globalization.CultureInfo.InvariantCulture));
        }
        else if (string.Equals(Get("Transfer-Encoding"), "chunked", StringComparison.OrdinalIgnoreCase))
        {
            while (true)
            {
                var size = Convert.ToInt64((await ReadLineAsync(stream))!.Split(';')[0], 16);
                if (size == 0)
                {
                    while (!string.IsNullOrEmpty(await ReadLineAsync(stream)))
                    {
                    }

                    break;
                }

                await CopyExactlyAsync(stream, body, size);
                await ReadLineAsync(stream);
            }
        }

        return new RecordedRequest(parts[0], parts[1], headers, body.ToArray());
    }

    private static async Task CopyExactlyAsync(Stream from, Stream to, long count)
    {
        var buffer = new byte[8192];
        while (count > 0)
        {
            var n = await from.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count)));
            if (n == 0)
            {
                throw new IOException("connection closed inside a body");
            }

            await to.WriteAsync(buffer.AsMemory(0, n));
            count -= n;
        }
    }

    private static async Task<string?> ReadLineAsync(Stream stream)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (true)
        {
            if (await stream.ReadAsync(one) == 0)
            {
                return line.Length == 0 ? null : line.ToString();
            }

            if (one[0] == '\n')
            {
                return line.ToString().TrimEnd('\r');
            }

            line.Append((char)one[0]);
        }
    }

    private static async Task WriteReplyAsync(Stream stream, RecordedRequest request, Reply reply)
    {
        var head = new StringBuilder();
        head.Append(System.Globalization.CultureInfo.InvariantCulture, $"HTTP/1.1 {reply.StatusCode} {Reason(reply.StatusCode)}\r\n");
        foreach (var (name, value) in reply.Headers)
        {
            head.Append(System.Globalization.CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        }

        if (!reply.Headers.Any(h => string.Equals(h.Key, "Content-Length", StringComparison.OrdinalIgnoreCase)))
        {
            head.Append(System.Globalization.CultureInfo.InvariantCulture, $"Content-Length: {reply.Body.Length}\r\n");
        }

        head.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
        if (request.Method != "HEAD")
        {
            await stream.WriteAsync(reply.Body);
        }

        await stream.FlushAsync();
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
}
