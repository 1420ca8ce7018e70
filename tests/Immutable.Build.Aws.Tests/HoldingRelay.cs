using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Immutable.Build.Aws.Tests;

/// <summary>
/// A loopback HTTP/1.1 relay to moto that never answers one request kind (by its X-Amz-Target action) and says when
/// one came: a child process can then be killed while it waits for that answer, at a known point of its work. Every
/// other request is passed on, one per connection. Sockets, not HttpListener, so the held request stays open.
/// </summary>
internal sealed class HoldingRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly HttpClient _http = new();
    private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public HoldingRelay(Uri upstream, string action)
    {
        _listener.Start();
        Url = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }

                _ = Task.Run(() => RelayAsync(client, upstream, action));
            }
        });
    }

    public Uri Url { get; }

    public Task Held => _held.Task;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        _http.Dispose();
        _stop.Dispose();
    }

    private async Task RelayAsync(TcpClient client, Uri upstream, string action)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var head = new List<byte>();
                var one = new byte[1];
                while (!(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
                {
                    if (await stream.ReadAsync(one, _stop.Token) == 0)
                    {
                        return;
                    }

                    head.Add(one[0]);
                }

                var lines = Encoding.ASCII.GetString([.. head]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
                var start = lines[0].Split(' ');
                var headers = lines.Skip(1).Select(l => l.Split(':', 2)).Where(p => p.Length == 2).Select(p => (Name: p[0].Trim(), Value: p[1].Trim())).ToList();
                var length = int.Parse(headers.FirstOrDefault(h => h.Name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Value ?? "0", System.Globalization.CultureInfo.InvariantCulture);
                var body = new byte[length];
                await stream.ReadExactlyAsync(body, _stop.Token);
                if (headers.Any(h => h.Name.Equals("X-Amz-Target", StringComparison.OrdinalIgnoreCase) && h.Value.EndsWith("." + action, StringComparison.Ordinal)))
                {
                    _held.TrySetResult();
                    await Task.Delay(Timeout.Infinite, _stop.Token);
                }

                using var request = new HttpRequestMessage(new HttpMethod(start[0]), new Uri(upstream, start[1])) { Content = new ByteArrayContent(body) };
                foreach (var (name, value) in headers.Where(h => !h.Name.Equals("Host", StringComparison.OrdinalIgnoreCase) && !h.Name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) && !h.Name.Equals("Connection", StringComparison.OrdinalIgnoreCase) && !h.Name.Equals("Expect", StringComparison.OrdinalIgnoreCase)))
                {
                    if (!request.Headers.TryAddWithoutValidation(name, value))
                    {
                        request.Content.Headers.TryAddWithoutValidation(name, value);
                    }
                }

                using var response = await _http.SendAsync(request, _stop.Token);
                var bytes = await response.Content.ReadAsByteArrayAsync(_stop.Token);
                var answer = new StringBuilder()
                    .Append(System.Globalization.CultureInfo.InvariantCulture, $"HTTP/1.1 {(int)response.StatusCode} {response.ReasonPhrase}\r\n")
                    .Append(System.Globalization.CultureInfo.InvariantCulture, $"Content-Type: {response.Content.Headers.ContentType?.ToString() ?? "text/xml"}\r\n")
                    .Append(System.Globalization.CultureInfo.InvariantCulture, $"Content-Length: {bytes.Length}\r\nConnection: close\r\n\r\n");
                await stream.WriteAsync(Encoding.ASCII.GetBytes(answer.ToString()), _stop.Token);
                await stream.WriteAsync(bytes, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or HttpRequestException or ObjectDisposedException)
            {
                // The relay is stopping, or the client went away (killed): nothing to answer.
            }
        }
    }
}
