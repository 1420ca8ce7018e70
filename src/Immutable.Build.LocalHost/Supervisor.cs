using Immutable.Build.Targets.Local;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Immutable.Build.Targets;
using Yarp.ReverseProxy.Forwarder;

namespace Immutable.Build.LocalHost;

/// <summary>
/// Everything the host owns: scopes with their proxies and weights, and instance processes. Mutations take
/// one lock and end by persisting host-state.json and publishing fresh routing tables; the proxies read
/// those tables without locking.
/// </summary>
internal sealed partial class Supervisor : IAsyncDisposable
{
    /// <summary>What an instance inherits from the host's environment; the rest comes from the image and the launch.</summary>
    private static readonly string[] InheritedVariables =
    [
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "XDG_RUNTIME_DIR",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "DOTNET_ROOT", "DOTNET_CLI_TELEMETRY_OPTOUT", "DOTNET_NOLOGO",
        // A test run marks every process it starts with this, to find leftovers.
        "IMMUTABLE_BUILD_RUN",
    ];

    private readonly object _gate = new();
    private readonly string _stateDirectory;
    private readonly IHttpForwarder _forwarder;
    private readonly HttpMessageInvoker _client;
    private readonly Dictionary<string, ScopeEntry> _scopes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Instance> _instances = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _scopeChanges = new(1, 1);

    public Supervisor(string stateDirectory, IHttpForwarder forwarder)
    {
        _stateDirectory = stateDirectory;
        _forwarder = forwarder;
        _client = ScopeProxy.CreateClient();
    }

    private string StatePath => Path.Combine(_stateDirectory, LocalHostControl.HostStateName);

    /// <summary>
    /// Reads what a previous host left: its instances are orphans (nothing supervises them any more) and are
    /// killed; its scopes get their proxies back on the same ports, with their weights.
    /// </summary>
    public async Task RestoreAsync(CancellationToken ct)
    {
        LocalHostState? previous = null;
        try
        {
            if (File.Exists(StatePath))
            {
                previous = JsonSerializer.Deserialize(await File.ReadAllBytesAsync(StatePath, ct), LocalJsonContext.Default.LocalHostState);
            }
        }
        catch (JsonException e)
        {
            HostLog.Line($"ignoring unreadable {StatePath}: {e.Message}");
        }

        if (previous is null)
        {
            return;
        }

        var orphans = previous.Instances.Where(i => IsSameProcess(i.Pid, i.ProcessStart)).ToList();
        foreach (var orphan in orphans)
        {
            HostLog.Line($"orphan {orphan.Id} (pid {orphan.Pid}, {orphan.Scope}/{orphan.Group}) of a previous host: SIGTERM");
            Posix.Signal(orphan.Pid, Posix.SigTerm);
        }

        var deadline = Stopwatch.StartNew();
        while (orphans.Any(o => IsSameProcess(o.Pid, o.ProcessStart)) && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(50, ct);
        }

        foreach (var orphan in orphans.Where(o => IsSameProcess(o.Pid, o.ProcessStart)))
        {
            HostLog.Line($"orphan {orphan.Id} (pid {orphan.Pid}) still runs: SIGKILL");
            Posix.Signal(orphan.Pid, Posix.SigKill);
        }

        foreach (var scope in previous.Scopes)
        {
            try
            {
                var proxy = await ScopeProxy.StartAsync(scope.Key, scope.ProxyPort, _forwarder, _client, ct);
                lock (_gate)
                {
                    _scopes[scope.Key] = new ScopeEntry(scope.Key, scope.App, scope.Environment, proxy, new Dictionary<string, int>(scope.Weights, StringComparer.Ordinal));
                }

                HostLog.Line($"scope {scope.Key}: proxy restored on {proxy.Url}");
            }
            catch (IOException e)
            {
                HostLog.Line($"scope {scope.Key}: port {scope.ProxyPort} is taken ({e.Message}); its proxy starts again on the next deploy");
            }
        }

        Persist();
    }

    public LocalScopeState? GetScope(string key)
    {
        lock (_gate)
        {
            return _scopes.TryGetValue(key, out var scope) ? StateOf(scope) : null;
        }
    }

    public IReadOnlyList<LocalInstance> ListInstances()
    {
        lock (_gate)
        {
            return _instances.Values.OrderBy(i => i.StartedAt).ThenBy(i => i.Id, StringComparer.Ordinal).Select(i => i.ToRecord()).ToList();
        }
    }

    /// <summary>Makes sure the scope's proxy listens: on its port, on the requested one (moving it), or on a free one.</summary>
    public async Task<LocalScopeState> EnsureScopeAsync(string key, LocalScopeRequest request, CancellationToken ct)
    {
        if (request.ProxyPort is < 0 or > 65535)
        {
            throw LocalErrors.InvalidRequest($"The proxy port {request.ProxyPort} is not a TCP port");
        }

        await _scopeChanges.WaitAsync(ct);
        try
        {
            ScopeEntry? existing;
            lock (_gate)
            {
                existing = _scopes.GetValueOrDefault(key);
                var other = _scopes.Values.FirstOrDefault(s => s.Key != key && s.Proxy is not null && s.Proxy.Port == request.ProxyPort);
                if (other is not null)
                {
                    throw LocalErrors.PortInUse(request.ProxyPort, $"the proxy of {other.Key} listens there");
                }

                if (existing?.Proxy is { } current && (request.ProxyPort == 0 || request.ProxyPort == current.Port))
                {
                    return StateOf(existing);
                }
            }

            var port = request.ProxyPort == 0 ? existing?.LastPort ?? 0 : request.ProxyPort;
            ScopeProxy proxy;
            try
            {
                proxy = await ScopeProxy.StartAsync(key, port, _forwarder, _client, ct);
            }
            catch (IOException e) when (request.ProxyPort == 0 && port != 0)
            {
                HostLog.Line($"scope {key}: its previous port {port} is taken ({e.Message}); picking a free one");
                proxy = await StartOnFreePortAsync(key, ct);
            }
            catch (IOException e)
            {
                throw LocalErrors.PortInUse(port, e.Message);
            }

            ScopeProxy? replaced;
            LocalScopeState state;
            lock (_gate)
            {
                var weights = existing?.Weights ?? new Dictionary<string, int>(StringComparer.Ordinal);
                var entry = new ScopeEntry(key, request.App, request.Environment, proxy, weights);
                replaced = existing?.Proxy;
                _scopes[key] = entry;
                Publish(entry);
                Persist();
                state = StateOf(entry);
            }

            HostLog.Line($"scope {key} ({request.App}, {request.Environment}): proxy listens on {proxy.Url}{(replaced is null ? "" : $" (moved from port {replaced.Port})")}");
            if (replaced is not null)
            {
                await replaced.DisposeAsync();
            }

            return state;
        }
        finally
        {
            _scopeChanges.Release();
        }
    }

    public IReadOnlyList<LocalInstance> Launch(string key, LocalLaunchCommand command)
    {
        if (command.Replicas is < 1 or > 256)
        {
            throw LocalErrors.InvalidRequest($"Replicas {command.Replicas} is invalid: give 1 to 256");
        }

        ValidateGroup(command.Group);
        ScopeEntry scope;
        lock (_gate)
        {
            scope = _scopes.GetValueOrDefault(key) ?? throw LocalErrors.InvalidRequest($"The scope {key} has no proxy yet: PUT /v1/scopes/{key} first");
        }

        var logDirectory = Path.Combine(_stateDirectory, "logs", key);
        Directory.CreateDirectory(logDirectory);
        var launched = new List<Instance>();
        for (var n = 0; n < command.Replicas; n++)
        {
            var id = $"{command.Group}-{Guid.NewGuid().ToString("N")[..8]}";
            var instance = new Instance
            {
                Id = id,
                ScopeKey = key,
                App = scope.App,
                Environment = scope.Environment,
                Group = command.Group,
                ReleaseId = command.ReleaseId,
                ImageDigest = command.ImageDigest,
                Commit = command.Commit,
                Port = FreePort(),
                LogFile = Path.Combine(logDirectory, id + ".log"),
                ReleaseDirectory = command.ReleaseDirectory,
                StartedAt = DateTimeOffset.UtcNow,
            };
            Start(instance, command);
            launched.Add(instance);

            // Registered at once: when a later replica fails to start, the ones already running stay supervised.
            lock (_gate)
            {
                _instances[instance.Id] = instance;
                Persist();
            }
        }

        lock (_gate)
        {
            Publish(scope);
            return launched.Select(i => i.ToRecord()).ToList();
        }
    }

    public LocalScopeState SetWeights(string key, IReadOnlyDictionary<string, int> weights)
    {
        foreach (var (group, weight) in weights)
        {
            ValidateGroup(group);
            if (weight is < 0 or > 100)
            {
                throw LocalErrors.InvalidRequest($"The weight {weight} of group '{group}' is invalid: give 0 to 100");
            }
        }

        if (weights.Values.Sum() is not 0 and not 100)
        {
            throw LocalErrors.InvalidRequest($"The weights sum to {weights.Values.Sum()}: they must sum to 100 (or 0 to route nothing)");
        }

        lock (_gate)
        {
            var scope = _scopes.GetValueOrDefault(key) ?? throw LocalErrors.InvalidRequest($"The scope {key} has no proxy yet: PUT /v1/scopes/{key} first");
            scope.Weights = new Dictionary<string, int>(weights, StringComparer.Ordinal);
            Publish(scope);
            Persist();
            HostLog.Line($"scope {key}: weights {Describe(scope.Weights)}");
            return StateOf(scope);
        }
    }

    /// <summary>
    /// Drains and stops a group: it leaves the routing table at once, requests in flight get up to
    /// <paramref name="drain"/> to finish, then SIGTERM, and SIGKILL after <paramref name="grace"/>.
    /// </summary>
    public async Task<IReadOnlyList<LocalInstance>> StopGroupAsync(string key, string group, TimeSpan drain, TimeSpan grace, CancellationToken ct)
    {
        List<Instance> doomed;
        lock (_gate)
        {
            doomed = _instances.Values.Where(i => i.ScopeKey == key && i.Group == group).ToList();
            foreach (var instance in doomed.Where(i => i.Status != LocalInstanceStatus.Exited))
            {
                instance.Status = LocalInstanceStatus.Stopping;
            }

            if (_scopes.TryGetValue(key, out var scope))
            {
                scope.Weights.Remove(group);
                Publish(scope);
            }

            Persist();
        }

        HostLog.Line($"scope {key}: group {group} leaves the routes; draining {doomed.Count} instance(s) for up to {drain.TotalMilliseconds:0} ms");
        var drainClock = Stopwatch.StartNew();
        while (doomed.Any(i => i.InFlight > 0) && drainClock.Elapsed < drain)
        {
            await Task.Delay(20, ct);
        }

        await TerminateAsync(doomed, grace, ct);
        lock (_gate)
        {
            foreach (var instance in doomed)
            {
                _instances.Remove(instance.Id);
                instance.Process?.Dispose();
            }

            Persist();
        }

        HostLog.Line($"scope {key}: group {group} stopped ({string.Join(", ", doomed.Select(i => $"{i.Id} exit {i.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}"))})");
        return doomed.Select(i => i.ToRecord()).ToList();
    }

    /// <summary>Forgets the exited instances of a scope (their logs stay).</summary>
    public IReadOnlyList<LocalInstance> Prune(string key)
    {
        lock (_gate)
        {
            var exited = _instances.Values.Where(i => i.ScopeKey == key && i.Status == LocalInstanceStatus.Exited).ToList();
            foreach (var instance in exited)
            {
                _instances.Remove(instance.Id);
                instance.Process?.Dispose();
            }

            Persist();
            if (exited.Count > 0)
            {
                HostLog.Line($"scope {key}: pruned exited {string.Join(", ", exited.Select(i => i.Id))}");
            }

            return exited.Select(i => i.ToRecord()).ToList();
        }
    }

    /// <summary>Stops every instance (no drain: the host is going away) and every proxy.</summary>
    public async Task ShutdownAsync(TimeSpan grace, CancellationToken ct)
    {
        List<Instance> all;
        List<ScopeEntry> scopes;
        lock (_gate)
        {
            all = _instances.Values.ToList();
            scopes = _scopes.Values.ToList();
            foreach (var instance in all.Where(i => i.Status != LocalInstanceStatus.Exited))
            {
                instance.Status = LocalInstanceStatus.Stopping;
            }

            foreach (var scope in scopes)
            {
                Publish(scope);
            }
        }

        HostLog.Line($"shutting down: stopping {all.Count(i => i.Status != LocalInstanceStatus.Exited)} instance(s)");
        await TerminateAsync(all, grace, ct);
        foreach (var scope in scopes)
        {
            if (scope.Proxy is not null)
            {
                await scope.Proxy.DisposeAsync();
            }
        }

        lock (_gate)
        {
            _instances.Clear();
            Persist();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var scope in _scopes.Values)
        {
            if (scope.Proxy is not null)
            {
                await scope.Proxy.DisposeAsync();
            }
        }

        _client.Dispose();
        _scopeChanges.Dispose();
    }

    private void Start(Instance instance, LocalLaunchCommand command)
    {
        // The shell only sets up stdio and execs, so the pid is the app's and its output goes straight to its log.
        var start = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            WorkingDirectory = command.WorkingDirectory,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("log=$1; shift; exec \"$@\" </dev/null >>\"$log\" 2>&1");
        start.ArgumentList.Add("immutable-instance");
        start.ArgumentList.Add(instance.LogFile);
        start.ArgumentList.Add(command.FileName);
        foreach (var argument in command.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Clear();
        foreach (var name in InheritedVariables)
        {
            if (System.Environment.GetEnvironmentVariable(name) is { } value)
            {
                start.Environment[name] = value;
            }
        }

        foreach (var (name, value) in command.Environment)
        {
            start.Environment[name] = value;
        }

        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{instance.Port}";
        start.Environment["IMMUTABLE_INSTANCE_ID"] = instance.Id;

        File.AppendAllText(instance.LogFile, $"== {DateTimeOffset.UtcNow:O} {instance.Id}: {command.FileName} {string.Join(' ', command.Arguments)} (release {command.ReleaseId}, port {instance.Port})\n");
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.Exited += (_, _) => OnExited(instance);
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            process.Dispose();
            throw LocalErrors.InstanceStart($"{command.FileName} did not start ({e.Message}); log {instance.LogFile}");
        }

        instance.Process = process;
        instance.Pid = process.Id;
        instance.ProcessStart = StartTimeOf(process.Id) ?? 0;
        HostLog.Line($"scope {instance.ScopeKey}: started {instance.Id} (pid {instance.Pid}, port {instance.Port}, release {instance.ReleaseId}, {instance.ImageDigest})");
        _ = WatchReadinessAsync(instance);
    }

    /// <summary>Marks the instance running once its port accepts connections, so the proxy prefers it to ones still starting.</summary>
    private async Task WatchReadinessAsync(Instance instance)
    {
        var clock = Stopwatch.StartNew();
        while (instance.Status == LocalInstanceStatus.Starting && clock.Elapsed < TimeSpan.FromMinutes(10))
        {
            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(IPAddress.Loopback, instance.Port);
                lock (_gate)
                {
                    if (instance.Status == LocalInstanceStatus.Starting)
                    {
                        instance.Status = LocalInstanceStatus.Running;
                        if (_scopes.TryGetValue(instance.ScopeKey, out var scope))
                        {
                            Publish(scope);
                        }

                        Persist();
                    }
                }

                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }
    }

    private void OnExited(Instance instance)
    {
        lock (_gate)
        {
            instance.Status = LocalInstanceStatus.Exited;
            try
            {
                instance.ExitCode = instance.Process?.ExitCode;
            }
            catch (InvalidOperationException)
            {
            }

            if (_scopes.TryGetValue(instance.ScopeKey, out var scope))
            {
                Publish(scope);
            }

            if (_instances.ContainsKey(instance.Id))
            {
                Persist();
            }
        }

        HostLog.Line($"scope {instance.ScopeKey}: {instance.Id} (pid {instance.Pid}) exited with {instance.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}");
    }

    private static async Task TerminateAsync(IReadOnlyCollection<Instance> instances, TimeSpan grace, CancellationToken ct)
    {
        var live = instances.Where(i => i.Process is { } p && !HasExited(p)).ToList();
        foreach (var instance in live)
        {
            Posix.Signal(instance.Pid, Posix.SigTerm);
        }

        var clock = Stopwatch.StartNew();
        while (live.Any(i => !HasExited(i.Process!)) && clock.Elapsed < grace)
        {
            await Task.Delay(25, ct);
        }

        foreach (var instance in live.Where(i => !HasExited(i.Process!)))
        {
            HostLog.Line($"{instance.Id} (pid {instance.Pid}) ignored SIGTERM for {grace.TotalSeconds:0.#} s: SIGKILL");
            Posix.Signal(instance.Pid, Posix.SigKill);
        }

        foreach (var instance in live)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            try
            {
                await instance.Process!.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                HostLog.Line($"{instance.Id} (pid {instance.Pid}) did not end after SIGKILL");
            }
        }
    }

    private static bool HasExited(Process process)
    {
        try
        {
            return process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    private async Task<ScopeProxy> StartOnFreePortAsync(string key, CancellationToken ct)
    {
        try
        {
            return await ScopeProxy.StartAsync(key, 0, _forwarder, _client, ct);
        }
        catch (IOException e)
        {
            throw LocalErrors.PortInUse(0, e.Message);
        }
    }

    /// <summary>Publishes the scope's routing table; call under the lock.</summary>
    private void Publish(ScopeEntry scope)
    {
        if (scope.Proxy is not null)
        {
            scope.Proxy.Routes = RoutingTable.Build(scope.Weights, _instances.Values.Where(i => i.ScopeKey == scope.Key));
        }
    }

    /// <summary>Writes host-state.json through a temporary file; call under the lock.</summary>
    private void Persist()
    {
        var state = new LocalHostState(
            _scopes.Values.Select(s => new LocalScopeRecord(s.Key, s.App, s.Environment, s.LastPort ?? 0, s.Weights)).ToList(),
            _instances.Values.Select(i => i.ToRecord()).ToList());
        var temp = $"{StatePath}.tmp-{Guid.NewGuid():N}";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(state, LocalJsonContext.Default.LocalHostState));
        File.Move(temp, StatePath, overwrite: true);
    }

    private LocalScopeState StateOf(ScopeEntry scope) => new(
        scope.Key,
        scope.App,
        scope.Environment,
        scope.LastPort ?? 0,
        scope.Proxy?.Url,
        new Dictionary<string, int>(scope.Weights, StringComparer.Ordinal),
        _instances.Values.Where(i => i.ScopeKey == scope.Key).OrderBy(i => i.StartedAt).ThenBy(i => i.Id, StringComparer.Ordinal).Select(i => i.ToRecord()).ToList());

    private static string Describe(IReadOnlyDictionary<string, int> weights) =>
        weights.Count == 0 ? "none" : string.Join(", ", weights.OrderBy(w => w.Key, StringComparer.Ordinal).Select(w => $"{w.Key} {w.Value}%"));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void ValidateGroup(string group)
    {
        if (string.IsNullOrEmpty(group) || !GroupName().IsMatch(group))
        {
            throw LocalErrors.InvalidRequest($"The group name '{group}' is invalid: use 1 to 63 of a-z, 0-9, '-', '_' and '.', starting with a letter or digit");
        }
    }

    private static bool IsSameProcess(int pid, long processStart) => StartTimeOf(pid) is { } start && start == processStart && processStart != 0;

    private static long? StartTimeOf(int pid) => LocalProcesses.StartTimeOf(pid);

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex GroupName();

    private sealed class ScopeEntry(string key, string app, string environment, ScopeProxy? proxy, Dictionary<string, int> weights)
    {
        public string Key { get; } = key;

        public string App { get; } = app;

        public string Environment { get; } = environment;

        public ScopeProxy? Proxy { get; } = proxy;

        public int? LastPort { get; } = proxy?.Port;

        public Dictionary<string, int> Weights { get; set; } = weights;
    }
}
