using Immutable.Build.Targets.Local;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Immutable.Build.LocalHost;

/// <summary>
/// The reverse proxy of one app and environment: its own listener on 127.0.0.1 and a port that stays the
/// scope's, forwarding each request directly (YARP's IHttpForwarder) to an instance the routing table picks.
/// </summary>
internal sealed class ScopeProxy : IAsyncDisposable
{
    private static readonly ForwarderRequestConfig RequestConfig = new()
    {
        ActivityTimeout = TimeSpan.FromMinutes(2),
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
    };

    private readonly WebApplication _app;
    private readonly IHttpForwarder _forwarder;
    private readonly HttpMessageInvoker _client;
    private readonly string _scopeKey;
    private volatile RoutingTable _routes = RoutingTable.Empty;
    private int _disposed;

    private ScopeProxy(WebApplication app, IHttpForwarder forwarder, HttpMessageInvoker client, string scopeKey)
    {
        _app = app;
        _forwarder = forwarder;
        _client = client;
        _scopeKey = scopeKey;
    }

    public int Port { get; private set; }

    /// <summary>
    /// The client a proxy forwards with: no proxy, redirects, decompression or cookies of its own; a dead instance
    /// fails fast. No trace headers of its own either: the proxy forwards the caller's and adds none, so a request
    /// costs no Activity work.
    /// </summary>
    public static HttpMessageInvoker CreateClient() => new(new SocketsHttpHandler
    {
        UseProxy = false,
        ActivityHeadersPropagator = null,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
    });

    public string Url => $"http://127.0.0.1:{Port}/";

    public RoutingTable Routes
    {
        get => _routes;
        set => _routes = value;
    }

    /// <summary>Starts listening on <paramref name="port"/> (0: a free port); throws IOException when the port is taken.</summary>
    public static Task<ScopeProxy> StartAsync(string scopeKey, int port, IHttpForwarder forwarder, HttpMessageInvoker client, CancellationToken ct) =>
        StartAsync(scopeKey, IPAddress.Loopback, port, forwarder, client, ct);

    /// <summary>Starts listening on <paramref name="address"/>:<paramref name="port"/>.</summary>
    public static async Task<ScopeProxy> StartAsync(string scopeKey, IPAddress address, int port, IHttpForwarder forwarder, HttpMessageInvoker client, CancellationToken ct)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(o =>
        {
            o.AddServerHeader = false;
            o.Limits.MaxRequestBodySize = null;
            o.Listen(address, port);
        });
        var app = builder.Build();
        var proxy = new ScopeProxy(app, forwarder, client, scopeKey);
        app.Run(proxy.HandleAsync);
        try
        {
            await app.StartAsync(ct);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        proxy.Port = new Uri(bound).Port;
        return proxy;
    }

    public async ValueTask DisposeAsync()
    {
        // Shutdown stops the proxies early; the host's final disposal must not stop them twice.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _app.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var routes = _routes;
        var first = routes.Pick(except: null);
        if (first is null)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync($"no live instance is routed for {_scopeKey}\n", context.RequestAborted);
            return;
        }

        var error = await ForwardAsync(context, first);
        if (error == ForwarderError.None || !CanRetry(context, error))
        {
            return;
        }

        // Another live instance of any routed group, never the one that just failed.
        var second = _routes.Pick(except: first);
        if (second is null)
        {
            return;
        }

        context.Response.Clear();
        context.Features.Set<IForwarderErrorFeature>(null);
        error = await ForwardAsync(context, second);
        if (error != ForwarderError.None)
        {
            HostLog.Line($"proxy {_scopeKey}: {context.Request.Method} {context.Request.Path} failed on {first.Id} and {second.Id}: {error}");
        }
    }

    private async Task<ForwarderError> ForwardAsync(HttpContext context, Instance instance)
    {
        instance.Enter();
        try
        {
            return await _forwarder.SendAsync(context, instance.Prefix, _client, RequestConfig, HttpTransformer.Default);
        }
        finally
        {
            instance.Leave();
        }
    }

    /// <summary>
    /// A retry is safe when nothing was sent back yet and the request never reached the app (no connection),
    /// or when it is a bodiless safe request (a pooled connection to an instance that just died).
    /// </summary>
    private static bool CanRetry(HttpContext context, ForwarderError error)
    {
        if (context.Response.HasStarted || error != ForwarderError.Request)
        {
            return false;
        }

        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        if (exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } || exception?.InnerException is SocketException)
        {
            return true;
        }

        var request = context.Request;
        var bodiless = request.ContentLength is null or 0 && !request.Headers.ContainsKey("Transfer-Encoding");
        return bodiless && (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method));
    }
}
