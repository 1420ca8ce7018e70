using Immutable.Build.Targets.Local;
using Immutable.Build.Targets;
using Yarp.ReverseProxy.Forwarder;

namespace Immutable.Build.LocalHost;

/// <summary>
/// What the control API asks of the host: it validates a request, changes the <see cref="ScopeTable"/> under one
/// lock, starts or ends processes through <see cref="InstanceProcesses"/>, and ends every change by publishing
/// fresh routing tables and saving host-state.json (<see cref="HostStateStore"/>).
/// </summary>
internal sealed class Supervisor : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly string _stateDirectory;
    private readonly IHttpForwarder _forwarder;
    private readonly HttpMessageInvoker _client;
    private readonly TimeProvider _time;
    private readonly ScopeTable _table = new();
    private readonly HostStateStore _store;
    private readonly InstanceProcesses _processes;
    private readonly SemaphoreSlim _scopeChanges = new(1, 1);

    public Supervisor(string stateDirectory, IHttpForwarder forwarder, TimeProvider time)
    {
        _stateDirectory = stateDirectory;
        _forwarder = forwarder;
        _time = time;
        _client = ScopeProxy.CreateClient();
        _store = new HostStateStore(stateDirectory);
        _processes = new InstanceProcesses(time, OnReady, OnExited);
    }

    /// <summary>
    /// Reads what a previous host left: its instances are orphans (nothing supervises them any more) and are
    /// killed; its scopes get their proxies back on the same ports, with their weights.
    /// </summary>
    public async Task RestoreAsync(CancellationToken ct)
    {
        if (await _store.LoadAsync(ct) is not { } previous)
        {
            return;
        }

        await _processes.ReapOrphansAsync(previous.Instances, ct);
        foreach (var scope in previous.Scopes)
        {
            try
            {
                var proxy = await ScopeProxy.StartAsync(scope.Key, scope.ProxyPort, _forwarder, _client, ct);
                lock (_gate)
                {
                    _table.Set(new ScopeEntry(scope.Key, scope.App, scope.Environment, proxy, new Dictionary<string, int>(scope.Weights, StringComparer.Ordinal)));
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
            return _table.Find(key) is { } scope ? _table.StateOf(scope) : null;
        }
    }

    public IReadOnlyList<LocalInstance> ListInstances()
    {
        lock (_gate)
        {
            return _table.ListInstances();
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
                existing = _table.Find(key);
                if (_table.OtherOnPort(key, request.ProxyPort) is { } other)
                {
                    throw LocalErrors.PortInUse(request.ProxyPort, $"the proxy of {other.Key} listens there");
                }

                if (existing?.Proxy is { } current && (request.ProxyPort == 0 || request.ProxyPort == current.Port))
                {
                    return _table.StateOf(existing);
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
                _table.Set(entry);
                _table.Publish(entry);
                Persist();
                state = _table.StateOf(entry);
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

        LocalGroupName.Validate(command.Group);
        ScopeEntry scope;
        lock (_gate)
        {
            scope = _table.Find(key) ?? throw NoProxyYet(key);
        }

        var logDirectory = Path.Combine(_stateDirectory, "logs", key);
        PrivateFiles.CreateDirectory(logDirectory);
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
                Port = InstanceProcesses.FreePort(),
                LogFile = Path.Combine(logDirectory, id + ".log"),
                ReleaseDirectory = command.ReleaseDirectory,
                StartedAt = _time.GetUtcNow(),
            };
            _processes.Start(instance, command);
            launched.Add(instance);

            // Registered at once: when a later replica fails to start, the ones already running stay supervised.
            lock (_gate)
            {
                _table.Add(instance);
                Persist();
            }
        }

        lock (_gate)
        {
            _table.Publish(scope);
            return launched.Select(i => i.ToRecord()).ToList();
        }
    }

    public LocalScopeState SetWeights(string key, IReadOnlyDictionary<string, int> weights)
    {
        foreach (var (group, weight) in weights)
        {
            LocalGroupName.Validate(group);
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
            var scope = _table.Find(key) ?? throw NoProxyYet(key);
            scope.Weights = new Dictionary<string, int>(weights, StringComparer.Ordinal);
            _table.Publish(scope);
            Persist();
            HostLog.Line($"scope {key}: weights {Describe(scope.Weights)}");
            return _table.StateOf(scope);
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
            doomed = _table.InGroup(key, group);
            foreach (var instance in doomed.Where(i => i.Status != LocalInstanceStatus.Exited))
            {
                instance.Status = LocalInstanceStatus.Stopping;
            }

            if (_table.Find(key) is { } scope)
            {
                scope.Weights.Remove(group);
                _table.Publish(scope);
            }

            Persist();
        }

        HostLog.Line($"scope {key}: group {group} leaves the routes; draining {doomed.Count} instance(s) for up to {drain.TotalMilliseconds:0} ms");
        await Wait.UntilAsync(_ => new ValueTask<bool>(!doomed.Any(i => i.InFlight > 0)), drain, TimeSpan.FromMilliseconds(20), _time, ct);
        await _processes.TerminateAsync(doomed, grace, ct);
        List<System.Diagnostics.Process> handles;
        lock (_gate)
        {
            handles = _table.Forget(doomed);
            Persist();
        }

        DisposeAll(handles);

        HostLog.Line($"scope {key}: group {group} stopped ({string.Join(", ", doomed.Select(i => $"{i.Id} exit {i.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}"))})");
        return doomed.Select(i => i.ToRecord()).ToList();
    }

    /// <summary>Forgets the exited instances of a scope (their logs stay).</summary>
    public IReadOnlyList<LocalInstance> Prune(string key)
    {
        List<Instance> exited;
        List<System.Diagnostics.Process> handles;
        lock (_gate)
        {
            exited = _table.ExitedIn(key);
            handles = _table.Forget(exited);
            Persist();
        }

        DisposeAll(handles);
        if (exited.Count > 0)
        {
            HostLog.Line($"scope {key}: pruned exited {string.Join(", ", exited.Select(i => i.Id))}");
        }

        return exited.Select(i => i.ToRecord()).ToList();
    }

    /// <summary>Stops every instance (no drain: the host is going away) and every proxy.</summary>
    public async Task ShutdownAsync(TimeSpan grace, CancellationToken ct)
    {
        List<Instance> all;
        List<ScopeEntry> scopes;
        lock (_gate)
        {
            all = _table.Instances.ToList();
            scopes = _table.Scopes.ToList();
            foreach (var instance in all.Where(i => i.Status != LocalInstanceStatus.Exited))
            {
                instance.Status = LocalInstanceStatus.Stopping;
            }

            foreach (var scope in scopes)
            {
                _table.Publish(scope);
            }
        }

        HostLog.Line($"shutting down: stopping {all.Count(i => i.Status != LocalInstanceStatus.Exited)} instance(s)");
        await _processes.TerminateAsync(all, grace, ct);
        foreach (var scope in scopes)
        {
            if (scope.Proxy is not null)
            {
                await scope.Proxy.DisposeAsync();
            }
        }

        lock (_gate)
        {
            _table.ForgetAllInstances();
            Persist();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var scope in _table.Scopes)
        {
            if (scope.Proxy is not null)
            {
                await scope.Proxy.DisposeAsync();
            }
        }

        _client.Dispose();
        _scopeChanges.Dispose();
    }

    private void OnReady(Instance instance)
    {
        lock (_gate)
        {
            if (instance.Status == LocalInstanceStatus.Starting)
            {
                instance.Status = LocalInstanceStatus.Running;
                _table.Publish(instance.ScopeKey);
                Persist();
            }
        }
    }

    /// <summary>
    /// Runs on the runtime's Exited event, inside the process handle's own lock; it takes the supervisor's lock in
    /// turn, so nothing may dispose a handle while holding the supervisor's lock (see <see cref="ScopeTable.Forget"/>).
    /// </summary>
    private void OnExited(Instance instance)
    {
        var exitCode = InstanceProcesses.ExitCodeOf(instance);
        lock (_gate)
        {
            instance.Status = LocalInstanceStatus.Exited;
            instance.ExitCode = exitCode;
            _table.Publish(instance.ScopeKey);
            if (_table.Holds(instance))
            {
                Persist();
            }
        }

        HostLog.Line($"scope {instance.ScopeKey}: {instance.Id} (pid {instance.Pid}) exited with {instance.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}");
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

    private static void DisposeAll(IEnumerable<System.Diagnostics.Process> handles)
    {
        foreach (var handle in handles)
        {
            handle.Dispose();
        }
    }

    /// <summary>Saves the table to host-state.json; call under the lock, so saves never interleave.</summary>
    private void Persist() => _store.Save(_table.ToHostState());

    private static ImmutableBuildException NoProxyYet(string key) =>
        LocalErrors.InvalidRequest($"The scope {key} has no proxy yet: PUT /v1/scopes/{key} first");

    private static string Describe(IReadOnlyDictionary<string, int> weights) =>
        weights.Count == 0 ? "none" : string.Join(", ", weights.OrderBy(w => w.Key, StringComparer.Ordinal).Select(w => $"{w.Key} {w.Value}%"));
}
