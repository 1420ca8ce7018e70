using System.Diagnostics;
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
    public static async Task<LocalHostControl?> TryConnectAsync(string stateDirectory, CancellationToken cancellationToken = default)
    {
        stateDirectory = Path.GetFullPath(stateDirectory);
        var host = await ReadHostFileAsync(stateDirectory, cancellationToken);
        if (host is null || !LocalProcesses.IsAlive(host.Pid, host.ProcessStart))
        {
            return null;
        }

        var control = new LocalHostControl(stateDirectory, host);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(PingTimeout);
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

    /// <summary>
    /// Connects to the host of the options' state directory, starting it when none answers: detached (its own
    /// session, stdio to host.log), so it outlives this process and whatever started it.
    /// </summary>
    public static async Task<LocalHostControl> ConnectOrStartAsync(LocalTargetOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var stateDirectory = EnsureStateDirectory(options.StateDirectory);
        if (await TryConnectAsync(stateDirectory, cancellationToken) is { } running)
        {
            return running;
        }

        // One starter at a time per state directory; the others find the host it started.
        await using var startLock = await AcquireStartLockAsync(stateDirectory, options.HostStartTimeout, cancellationToken);
        if (await TryConnectAsync(stateDirectory, cancellationToken) is { } startedMeanwhile)
        {
            return startedMeanwhile;
        }

        var hostAssembly = Path.GetFullPath(options.HostAssemblyPath);
        if (!File.Exists(hostAssembly))
        {
            throw LocalErrors.HostMissing("The local host assembly", hostAssembly);
        }

        var dotnet = LocalProcesses.ResolveDotnet(options.DotnetPath);
        var log = Path.Combine(stateDirectory, HostLogName);
        var previous = await ReadHostFileAsync(stateDirectory, cancellationToken);
        try
        {
            await LocalProcesses.StartDetachedAsync(
                dotnet,
                [hostAssembly, "run", "--state-dir", stateDirectory],
                log,
                cancellationToken);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
        {
            throw LocalErrors.HostUnavailable(stateDirectory, $"it could not be started: {e.Message}");
        }

        options.Log?.Invoke($"local host starting for {stateDirectory} (log {log})");
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < options.HostStartTimeout)
        {
            await Task.Delay(100, cancellationToken);
            var host = await ReadHostFileAsync(stateDirectory, cancellationToken);
            if (host is null || host == previous)
            {
                continue;
            }

            if (await TryConnectAsync(stateDirectory, cancellationToken) is { } started)
            {
                options.Log?.Invoke($"local host {started.HostProcessId} answers on 127.0.0.1:{started.ControlPort}");
                return started;
            }
        }

        throw LocalErrors.HostUnavailable(stateDirectory, $"it did not answer within {options.HostStartTimeout.TotalSeconds:0} s; the end of its log:\n{Tail(log, 20)}");
    }

    /// <summary>
    /// Ends the host of <paramref name="stateDirectory"/> and every instance it owns (SIGTERM, then SIGKILL after
    /// <paramref name="grace"/>). When the host does not answer, its recorded processes are killed directly.
    /// Returns false when nothing was running.
    /// </summary>
    public static async Task<bool> StopAsync(string stateDirectory, TimeSpan? grace = null, CancellationToken cancellationToken = default)
    {
        stateDirectory = Path.GetFullPath(stateDirectory);
        var wait = grace ?? TimeSpan.FromSeconds(10);
        var stopped = false;
        using (var control = await TryConnectAsync(stateDirectory, cancellationToken))
        {
            if (control is not null)
            {
                try
                {
                    await control.SendAsync<LocalInstanceList>(HttpMethod.Post, "v1/shutdown", Json(new LocalStopRequest(0, (int)wait.TotalMilliseconds), LocalJsonContext.Default.LocalStopRequest), null, cancellationToken);
                }
                catch (ImmutableBuildException e) when (e.Code is LocalErrors.HostUnavailableCode or LocalErrors.ProtocolCode)
                {
                    // The host may close the connection as it exits.
                }

                await LocalProcesses.WaitGoneAsync(control._host.Pid, control._host.ProcessStart, wait + TimeSpan.FromSeconds(10), cancellationToken);
                stopped = true;
            }
        }

        // Whatever is still recorded (a host that did not answer, or instances it could not stop) is killed.
        if (await ReadHostFileAsync(stateDirectory, cancellationToken) is { } host)
        {
            stopped |= LocalProcesses.KillIfSame(host.Pid, host.ProcessStart);
            await LocalProcesses.WaitGoneAsync(host.Pid, host.ProcessStart, TimeSpan.FromSeconds(5), cancellationToken);
            File.Delete(Path.Combine(stateDirectory, HostFileName));
        }

        if (await ReadStateAsync(stateDirectory, cancellationToken) is { } state)
        {
            foreach (var instance in state.Instances)
            {
                stopped |= LocalProcesses.KillIfSame(instance.Pid, instance.ProcessStart);
            }
        }

        return stopped;
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

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

    internal static async Task<LocalHostFile?> ReadHostFileAsync(string stateDirectory, CancellationToken ct) =>
        await ReadJsonAsync(Path.Combine(stateDirectory, HostFileName), LocalJsonContext.Default.LocalHostFile, ct);

    internal static async Task<LocalHostState?> ReadStateAsync(string stateDirectory, CancellationToken ct) =>
        await ReadJsonAsync(Path.Combine(stateDirectory, HostStateName), LocalJsonContext.Default.LocalHostState, ct);

    /// <summary>Creates the state directory, private to the user (it holds the control token).</summary>
    internal static string EnsureStateDirectory(string stateDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        var full = Path.GetFullPath(stateDirectory);
        try
        {
            if (!Directory.Exists(full))
            {
                if (OperatingSystem.IsWindows())
                {
                    Directory.CreateDirectory(full);
                }
                else
                {
                    Directory.CreateDirectory(full, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
            }

            return full;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw LocalErrors.StateDirectory(full, e);
        }
    }

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

    private static async Task<T?> ReadJsonAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken ct)
        where T : class
    {
        try
        {
            var bytes = await File.ReadAllBytesAsync(path, ct);
            return JsonSerializer.Deserialize(bytes, type);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    private static async Task<FileStream> AcquireStartLockAsync(string stateDirectory, TimeSpan timeout, CancellationToken ct)
    {
        var path = Path.Combine(stateDirectory, "host-start.lock");
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                // FileShare.None is an advisory lock (flock) on Unix: released by the kernel if this process dies.
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (stopwatch.Elapsed < timeout)
            {
                await Task.Delay(100, ct);
            }
            catch (IOException e)
            {
                throw LocalErrors.HostUnavailable(stateDirectory, $"another process has been starting the host for {timeout.TotalSeconds:0} s ({e.Message})");
            }
        }
    }

    private static string Tail(string file, int lines)
    {
        try
        {
            var all = File.ReadAllLines(file);
            return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "(no log)";
        }
    }
}
