using Immutable.Build.Targets.Local;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Immutable.Build.Targets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Immutable.Build.LocalHost;

/// <summary>
/// The control API: HTTP and JSON on 127.0.0.1, a random port, and a bearer token that only readers of
/// host.json (mode 0600) know. Errors answer <c>{"code","message"}</c> with the IMB code.
/// </summary>
internal sealed class ControlApi : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Supervisor _supervisor;
    private readonly byte[] _token;
    private readonly LocalHostStatus _status;
    private readonly Action<TimeSpan> _shutdown;

    private ControlApi(WebApplication app, Supervisor supervisor, string token, LocalHostStatus status, Action<TimeSpan> shutdown)
    {
        _app = app;
        _supervisor = supervisor;
        _token = Encoding.ASCII.GetBytes(token);
        _status = status;
        _shutdown = shutdown;
    }

    public int Port { get; private set; }

    public static async Task<ControlApi> StartAsync(Supervisor supervisor, string token, LocalHostStatus status, Action<TimeSpan> shutdown, CancellationToken ct)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(o =>
        {
            o.AddServerHeader = false;
            o.Limits.MaxRequestBodySize = 4 * 1024 * 1024;
            o.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        var api = new ControlApi(app, supervisor, token, status, shutdown);
        app.Run(api.HandleAsync);
        await app.StartAsync(ct);
        api.Port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        return api;
    }

    public async ValueTask DisposeAsync()
    {
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
        if (!Authorized(context.Request))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }

        try
        {
            await DispatchAsync(context);
        }
        catch (ImmutableBuildException e)
        {
            var status = e.Code switch
            {
                LocalHostControl.NotFoundCode => StatusCodes.Status404NotFound,
                LocalErrors.PortInUseCode => StatusCodes.Status409Conflict,
                LocalErrors.InvalidRequestCode => StatusCodes.Status400BadRequest,
                _ => StatusCodes.Status500InternalServerError,
            };
            await WriteAsync(context, new LocalError(e.Code, e.Message), LocalJsonContext.Default.LocalError, status);
        }
        catch (JsonException e)
        {
            await WriteAsync(context, new LocalError(LocalErrors.ProtocolCode, $"The request body is not valid: {e.Message}"), LocalJsonContext.Default.LocalError, StatusCodes.Status400BadRequest);
        }
    }

    private async Task DispatchAsync(HttpContext context)
    {
        var method = context.Request.Method;
        var segments = (context.Request.Path.Value ?? "").Trim('/').Split('/').Select(Uri.UnescapeDataString).ToArray();
        var ct = context.RequestAborted;
        switch (segments)
        {
            case ["v1", "host"] when HttpMethods.IsGet(method):
                await WriteAsync(context, _status, LocalJsonContext.Default.LocalHostStatus);
                return;

            case ["v1", "instances"] when HttpMethods.IsGet(method):
                await WriteAsync(context, new LocalInstanceList(_supervisor.ListInstances()), LocalJsonContext.Default.LocalInstanceList);
                return;

            case ["v1", "shutdown"] when HttpMethods.IsPost(method):
                var stop = await ReadAsync(context, LocalJsonContext.Default.LocalStopRequest);
                await WriteAsync(context, new LocalInstanceList(_supervisor.ListInstances()), LocalJsonContext.Default.LocalInstanceList, StatusCodes.Status202Accepted);
                await context.Response.CompleteAsync();
                _shutdown(TimeSpan.FromMilliseconds(Math.Max(0, stop.GraceMilliseconds)));
                return;

            case ["v1", "scopes", var key] when HttpMethods.IsGet(method):
                var scope = _supervisor.GetScope(key) ?? throw new ImmutableBuildException(LocalHostControl.NotFoundCode, $"No scope {key}.");
                await WriteAsync(context, scope, LocalJsonContext.Default.LocalScopeState);
                return;

            case ["v1", "scopes", var key] when HttpMethods.IsPut(method):
                var request = await ReadAsync(context, LocalJsonContext.Default.LocalScopeRequest);
                await WriteAsync(context, await _supervisor.EnsureScopeAsync(key, request, ct), LocalJsonContext.Default.LocalScopeState);
                return;

            case ["v1", "scopes", var key, "launch"] when HttpMethods.IsPost(method):
                var launch = await ReadAsync(context, LocalJsonContext.Default.LocalLaunchCommand);
                await WriteAsync(context, new LocalInstanceList(_supervisor.Launch(key, launch)), LocalJsonContext.Default.LocalInstanceList);
                return;

            case ["v1", "scopes", var key, "weights"] when HttpMethods.IsPut(method):
                var weights = await ReadAsync(context, LocalJsonContext.Default.LocalWeightsRequest);
                await WriteAsync(context, _supervisor.SetWeights(key, weights.Weights), LocalJsonContext.Default.LocalScopeState);
                return;

            case ["v1", "scopes", var key, "groups", var group, "stop"] when HttpMethods.IsPost(method):
                var drain = await ReadAsync(context, LocalJsonContext.Default.LocalStopRequest);
                var stopped = await _supervisor.StopGroupAsync(
                    key,
                    group,
                    TimeSpan.FromMilliseconds(Math.Max(0, drain.DrainMilliseconds)),
                    TimeSpan.FromMilliseconds(Math.Max(0, drain.GraceMilliseconds)),
                    CancellationToken.None);
                await WriteAsync(context, new LocalInstanceList(stopped), LocalJsonContext.Default.LocalInstanceList);
                return;

            case ["v1", "scopes", var key, "prune"] when HttpMethods.IsPost(method):
                await WriteAsync(context, new LocalInstanceList(_supervisor.Prune(key)), LocalJsonContext.Default.LocalInstanceList);
                return;

            default:
                throw new ImmutableBuildException(LocalHostControl.NotFoundCode, $"No {method} {context.Request.Path}.");
        }
    }

    private bool Authorized(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string Prefix = "Bearer ";
        return header.StartsWith(Prefix, StringComparison.Ordinal)
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(header[Prefix.Length..]), _token);
    }

    private static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type) =>
        await JsonSerializer.DeserializeAsync(context.Request.Body, type, context.RequestAborted) ?? throw new JsonException("null body");

    private static async Task WriteAsync<T>(HttpContext context, T value, JsonTypeInfo<T> type, int status = StatusCodes.Status200OK)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, value, type, context.RequestAborted);
    }
}
