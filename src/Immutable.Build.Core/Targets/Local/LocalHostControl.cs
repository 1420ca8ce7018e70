using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Immutable.Build.Targets.Local;

/// <summary>
/// A connection to the local host of a state directory (the process that owns the local instances and
/// proxies), and the way to start it on demand and to stop it (<c>immutable local stop</c>).
/// </summary>
public sealed class LocalHostControl : IDisposable
{
    /// <summary>host.json: pid, control port and token of the running host (mode 0600).</summary>
    public const string HostFileName = "host.json";

    /// <summary>The host's own log (its stdout and stderr).</summary>
    public const string HostLogName = "host.log";

    /// <summary>What the host keeps across restarts: scopes, weights, and instances to reap.</summary>
    public const string HostStateName = "host-state.json";

    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(3);

    private readonly HttpClient _http;
    private readonly LocalHostFile _host;

    private LocalHostControl(string stateDirectory, LocalHostFile host)
    {
        StateDirectory = stateDirectory;
        _host = host;
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(5) })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{host.ControlPort}/"),
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", host.Token);
    }

    /// <summary>The state directory of the host.</summary>
    public string StateDirectory { get; }

    /// <summary>The host's process id.</summary>
    public int HostProcessId => _host.Pid;

    /// <summary>The loopback port of the control API.</summary>
    public int ControlPort => _host.ControlPort;

    /// <summary>Connects to the host of <paramref name="stateDirectory"/>; null when none answers.</summary>
    public static Task<LocalHostControl?> TryConnectAsync(string stateDirectory, CancellationToken cancellationToken = default) =>
        TryConnectAsync(stateDirectory, TimeProvider.System, cancellationToken);

    /// <summary>
    /// Connects to the host of the options' state directory, starting it when none answers: detached (its own
    /// session, stdio to host.log), so it outlives this process and whatever started it.
    /// </summary>
    public static Task<LocalHostControl> ConnectOrStartAsync(LocalTargetOptions options, CancellationToken cancellationToken = default) =>
        LocalHostLauncher.ConnectOrStartAsync(options, cancellationToken);

    /// <summary>
    /// Ends the host of <paramref name="stateDirectory"/> and every instance it owns (SIGTERM, then SIGKILL after
    /// <paramref name="grace"/>). When the host does not answer, its recorded processes are killed directly.
    /// Returns false when nothing was running.
    /// </summary>
    public static Task<bool> StopAsync(string stateDirectory, TimeSpan? grace = null, CancellationToken cancellationToken = default) =>
        LocalHostLauncher.StopAsync(stateDirectory, grace, TimeProvider.System, cancellationToken);

    /// <summary>As <see cref="StopAsync(string, TimeSpan?, CancellationToken)"/>, waiting on <paramref name="time"/>.</summary>
    public static Task<bool> StopAsync(string stateDirectory, TimeSpan? grace, TimeProvider time, CancellationToken cancellationToken) =>
        LocalHostLauncher.StopAsync(stateDirectory, grace, time, cancellationToken);

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    /// <summary>The host's start time as the kernel counts it, so a recycled pid is not taken for the host.</summary>
    internal long HostProcessStart => _host.ProcessStart;

    internal static async Task<LocalHostControl?> TryConnectAsync(string stateDirectory, TimeProvider time, CancellationToken cancellationToken)
    {
        stateDirectory = Path.GetFullPath(stateDirectory);
        var host = await LocalStateFiles.ReadHostFileAsync(stateDirectory, cancellationToken);
        if (host is null || !LocalProcesses.IsAlive(host.Pid, host.ProcessStart))
        {
            return null;
        }

        var control = new LocalHostControl(stateDirectory, host);
        try
        {
            using var ping = new CancellationTokenSource(PingTimeout, time);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, ping.Token);
            var status = await control.SendAsync(HttpMethod.Get, "v1/host", null, LocalJsonContext.Default.LocalHostStatus, timeout.Token);
            if (status.Pid == host.Pid)
            {
                return control;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
        catch (ImmutableBuildException e) when (e.Code is LocalErrors.HostUnavailableCode or LocalErrors.ProtocolCode)
        {
        }

        control.Dispose();
        return null;
    }

    /// <summary>Asks the host to stop its instances and exit; the host may close the connection as it goes.</summary>
    internal async Task RequestShutdownAsync(TimeSpan grace, CancellationToken ct)
    {
        try
        {
            await SendAsync<LocalInstanceList>(HttpMethod.Post, "v1/shutdown", Json(new LocalStopRequest(0, (int)grace.TotalMilliseconds), LocalJsonContext.Default.LocalStopRequest), null, ct);
        }
        catch (ImmutableBuildException e) when (e.Code is LocalErrors.HostUnavailableCode or LocalErrors.ProtocolCode)
        {
        }
    }

    internal async Task<IReadOnlyList<LocalInstance>> ListAsync(CancellationToken ct) =>
        (await SendAsync(HttpMethod.Get, "v1/instances", null, LocalJsonContext.Default.LocalInstanceList, ct)).Instances;

    internal async Task<LocalScopeState?> GetScopeAsync(DeploymentScope scope, CancellationToken ct)
    {
        try
        {
            return await SendAsync(HttpMethod.Get, ScopePath(scope), null, LocalJsonContext.Default.LocalScopeState, ct);
        }
        catch (ImmutableBuildException e) when (e.Code == NotFoundCode)
        {
            return null;
        }
    }

    internal Task<LocalScopeState> EnsureScopeAsync(DeploymentScope scope, int proxyPort, CancellationToken ct) =>
        SendAsync(HttpMethod.Put, ScopePath(scope), Json(new LocalScopeRequest(scope.App, scope.Environment, proxyPort), LocalJsonContext.Default.LocalScopeRequest), LocalJsonContext.Default.LocalScopeState, ct);

    internal async Task<IReadOnlyList<LocalInstance>> LaunchAsync(DeploymentScope scope, LocalLaunchCommand command, CancellationToken ct) =>
        (await SendAsync(HttpMethod.Post, ScopePath(scope) + "/launch", Json(command, LocalJsonContext.Default.LocalLaunchCommand), LocalJsonContext.Default.LocalInstanceList, ct)).Instances;

    internal Task<LocalScopeState> SetWeightsAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weights, CancellationToken ct) =>
        SendAsync(HttpMethod.Put, ScopePath(scope) + "/weights", Json(new LocalWeightsRequest(weights), LocalJsonContext.Default.LocalWeightsRequest), LocalJsonContext.Default.LocalScopeState, ct);

    internal async Task<IReadOnlyList<LocalInstance>> StopGroupAsync(DeploymentScope scope, string group, TimeSpan drain, TimeSpan grace, CancellationToken ct) =>
        (await SendAsync(
            HttpMethod.Post,
            $"{ScopePath(scope)}/groups/{Uri.EscapeDataString(group)}/stop",
            Json(new LocalStopRequest((int)Math.Min(int.MaxValue, drain.TotalMilliseconds), (int)Math.Min(int.MaxValue, grace.TotalMilliseconds)), LocalJsonContext.Default.LocalStopRequest),
            LocalJsonContext.Default.LocalInstanceList,
            ct)).Instances;

    internal async Task<IReadOnlyList<LocalInstance>> PruneAsync(DeploymentScope scope, CancellationToken ct) =>
        (await SendAsync(HttpMethod.Post, ScopePath(scope) + "/prune", Json(new LocalStopRequest(0, 0), LocalJsonContext.Default.LocalStopRequest), LocalJsonContext.Default.LocalInstanceList, ct)).Instances;

    /// <summary>Not an IMB code: the host's answer for an unknown scope or group, turned into null or false here.</summary>
    internal const string NotFoundCode = "not-found";

    private static string ScopePath(DeploymentScope scope) => $"v1/scopes/{Uri.EscapeDataString(scope.Key)}";

    private static HttpContent Json<T>(T value, JsonTypeInfo<T> type)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(value, type));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, JsonTypeInfo<T>? type, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            using var request = new HttpRequestMessage(method, path) { Content = content };
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
        }
        catch (HttpRequestException e)
        {
            throw LocalErrors.HostUnavailable(StateDirectory, $"{method} /{path} failed: {e.Message}");
        }

        using (response)
        {
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                throw LocalErrors.TokenRefused(StateDirectory);
            }

            if (!response.IsSuccessStatusCode)
            {
                LocalError? error = null;
                try
                {
                    error = JsonSerializer.Deserialize(body, LocalJsonContext.Default.LocalError);
                }
                catch (JsonException)
                {
                }

                throw error is { Code.Length: > 0 }
                    ? new ImmutableBuildException(error.Code, error.Message)
                    : LocalErrors.Protocol(StateDirectory, $"{method} /{path} answered {(int)response.StatusCode} {response.ReasonPhrase}");
            }

            if (type is null)
            {
                return default!;
            }

            try
            {
                return JsonSerializer.Deserialize(body, type) ?? throw new JsonException("null");
            }
            catch (JsonException e)
            {
                throw LocalErrors.Protocol(StateDirectory, $"{method} /{path} answered with something that is not its protocol ({e.Message})");
            }
        }
    }
}
