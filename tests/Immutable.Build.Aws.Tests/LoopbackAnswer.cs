using System.Net;

namespace Immutable.Build.Aws.Tests;

/// <summary>
/// A loopback HTTP server that answers every request with one status, standing in for instances that moto does
/// not run: direct health checks of the EC2 target are mapped to it, never to the private addresses moto hands out.
/// </summary>
internal sealed class LoopbackAnswer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    public LoopbackAnswer(HttpStatusCode status)
    {
        Url = new Uri($"http://127.0.0.1:{TestNetwork.FreePort()}/");
        _listener.Prefixes.Add(Url.ToString());
        _listener.Start();
        _loop = Task.Run(async () =>
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                Interlocked.Increment(ref _requests);
                context.Response.StatusCode = (int)status;
                context.Response.Close();
            }
        });
    }

    private int _requests;

    public Uri Url { get; }

    public int Requests => Volatile.Read(ref _requests);

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
