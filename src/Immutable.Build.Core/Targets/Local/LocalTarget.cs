using System.Net;
using System.Net.Sockets;
using Immutable.Build.Images;

namespace Immutable.Build.Targets.Local;

/// <summary>
/// The embedded default target: each instance is a process started from the release image's unpacked files
/// with this machine's .NET runtime, on its own loopback port, behind a per-app-and-environment reverse proxy
/// on a stable port. A local host process (started on demand, detached) owns the processes and the proxies,
/// so they outlive the build or command that deployed them.
/// </summary>
public sealed class LocalTarget : IDeploymentTarget
{
    /// <summary>Variables of the image that would break a process on this machine (they describe the container's file system).</summary>
    private static readonly HashSet<string> ImageOnlyVariables = new(StringComparer.Ordinal) { "PATH", "HOME", "HOSTNAME", "DOTNET_ROOT" };

    private const int LogTailLines = 8;
    private const int LogTailChars = 1200;

    private readonly LocalTargetOptions _options;
    private readonly LocalReleases _releases;

    /// <summary>Creates the target; nothing starts until a method needs the host.</summary>
    public LocalTarget(LocalTargetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.StateDirectory);
        if (options.ProxyPort is < 0 or > 65535)
        {
            throw LocalErrors.InvalidRequest($"The proxy port {options.ProxyPort} is not a TCP port: give 1-65535, or 0 for a free one");
        }

        _options = options with { StateDirectory = Path.GetFullPath(options.StateDirectory) };
        _releases = new LocalReleases(_options);
    }

    /// <inheritdoc />
    public string Name => "local";

    /// <summary>The state directory in use.</summary>
    public string StateDirectory => _options.StateDirectory;

    /// <summary>Where release <paramref name="digest"/> is unpacked: <c>&lt;state&gt;/releases/&lt;hex&gt;</c>.</summary>
    public string ReleaseDirectory(Digest digest) => _releases.DirectoryOf(digest);

    /// <inheritdoc />
    public async Task<TargetState> ObserveAsync(DeploymentScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);

        // Observing never starts a host: no host means nothing runs.
        using var control = await LocalHostControl.TryConnectAsync(_options.StateDirectory, _options.Time, cancellationToken);
        if (control is null || await control.GetScopeAsync(scope, cancellationToken) is not { } state)
        {
            return new TargetState([], new Dictionary<string, int>(), null);
        }

        return new TargetState(
            state.Instances.Select(i => ToInfo(scope, i)).ToList(),
            new Dictionary<string, int>(state.Weights, StringComparer.Ordinal),
            state.ProxyUrl is null ? null : new Uri(state.ProxyUrl));
    }

    /// <summary>
    /// Finds a proxy port that another program holds before the rollout writes or launches anything: found only
    /// when the proxy is started, it failed the launch and then the rollback (which routes on the same proxy).
    /// The scope's own proxy on the port is fine; another scope's proxy there is named.
    /// </summary>
    public async Task PrepareAsync(DeploymentScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var port = _options.ProxyPort;
        if (port == 0)
        {
            return;
        }

        using (var control = await LocalHostControl.TryConnectAsync(_options.StateDirectory, _options.Time, cancellationToken))
        {
            if (control is not null)
            {
                if (await control.GetScopeAsync(scope, cancellationToken) is { ProxyUrl: not null } own && own.ProxyPort == port)
                {
                    return;
                }

                var recorded = await LocalStateFiles.ReadStateAsync(_options.StateDirectory, cancellationToken);
                if (recorded?.Scopes.FirstOrDefault(s => s.ProxyPort == port && s.Key != scope.Key) is { } other)
                {
                    throw LocalErrors.PortInUse(port, $"the proxy of {other.Key} listens there; nothing was deployed");
                }
            }
        }

        try
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
            probe.Listen(1);
        }
        catch (SocketException e)
        {
            throw LocalErrors.PortInUse(port, e.SocketErrorCode == SocketError.AddressAlreadyInUse
                ? $"port {port} is in use by another program; nothing was deployed"
                : $"{e.Message}; nothing was deployed");
        }
    }

    /// <summary>The proxy's URL and the folder of the instance logs, the two places a user looks next.</summary>
    public async Task<IReadOnlyList<string>> DescribeAsync(DeploymentScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        using var control = await LocalHostControl.TryConnectAsync(_options.StateDirectory, _options.Time, cancellationToken);
        var state = control is null ? null : await control.GetScopeAsync(scope, cancellationToken);
        var logs = state?.Instances.Select(i => Path.GetDirectoryName(i.LogFile)).FirstOrDefault(d => d is { Length: > 0 })
            ?? Path.Combine(_options.StateDirectory, "logs", scope.Key);
        return state?.ProxyUrl is { } url
            ? [$"{scope.App} in {scope.Environment} answers at {url}", $"instance logs: {logs}"]
            : [$"instance logs: {logs}"];
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<InstanceInfo>> LaunchAsync(LaunchRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        LocalGroupName.Validate(request.Group);
        if (request.Replicas is < 1 or > 256)
        {
            throw LocalErrors.InvalidRequest($"Replicas {request.Replicas} is invalid: give 1 to 256 instances per group");
        }

        var digest = Digest.Parse(request.Release.ImageDigest);
        var (rootfs, config) = await _releases.EnsureAsync(request.Release, digest, cancellationToken);
        var (fileName, arguments, workingDirectory) = LocalCommand.Resolve(config, rootfs, LocalProcesses.ResolveDotnet(_options.DotnetPath), request.Release.ImageReference);

        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in config.Config?.Env ?? [])
        {
            var equals = entry.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && !ImageOnlyVariables.Contains(entry[..equals]))
            {
                environment[entry[..equals]] = entry[(equals + 1)..];
            }
        }

        // The host sets ASPNETCORE_URLS to the instance's port; ports from the image would add listeners of their own.
        environment["ASPNETCORE_HTTP_PORTS"] = "";
        environment["ASPNETCORE_HTTPS_PORTS"] = "";
        environment["IMMUTABLE_RELEASE_ID"] = request.Release.ReleaseId;
        environment["IMMUTABLE_COMMIT"] = request.Release.Commit ?? "";
        environment["IMMUTABLE_IMAGE_DIGEST"] = digest.Value;
        environment["IMMUTABLE_APP"] = request.Scope.App;
        environment["IMMUTABLE_ENVIRONMENT"] = request.Scope.Environment;
        environment["IMMUTABLE_GROUP"] = request.Group;
        foreach (var (name, value) in request.Environment)
        {
            environment[name] = value;
        }

        using var control = await LocalHostControl.ConnectOrStartAsync(_options, cancellationToken);
        await control.EnsureScopeAsync(request.Scope, _options.ProxyPort, cancellationToken);
        var launched = await control.LaunchAsync(
            request.Scope,
            new LocalLaunchCommand(request.Group, request.Release.ReleaseId, digest.Value, request.Release.Commit, request.Replicas, fileName, arguments, workingDirectory, environment, rootfs),
            cancellationToken);
        _options.Log?.Invoke($"launched {launched.Count} instance(s) of release {request.Release.ReleaseId} as group {request.Group} of {request.Scope.Key}: {string.Join(", ", launched.Select(i => $"{i.Id} on {i.Address}"))}");
        return launched.Select(i => ToInfo(request.Scope, i)).ToList();
    }

    /// <inheritdoc />
    public async Task RouteAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weightsByGroup, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(weightsByGroup);
        foreach (var (group, weight) in weightsByGroup)
        {
            LocalGroupName.Validate(group);
            if (weight is < 0 or > 100)
            {
                throw LocalErrors.InvalidRequest($"The weight {weight} of group '{group}' is invalid: give 0 to 100");
            }
        }

        var total = weightsByGroup.Values.Sum();
        if (total is not 0 and not 100)
        {
            throw LocalErrors.InvalidRequest($"The weights {string.Join(", ", weightsByGroup.Select(w => $"{w.Key}={w.Value}"))} sum to {total}: they must sum to 100 (or 0 to route nothing)");
        }

        using var control = await LocalHostControl.ConnectOrStartAsync(_options, cancellationToken);
        var state = await control.EnsureScopeAsync(scope, _options.ProxyPort, cancellationToken);
        await control.SetWeightsAsync(scope, weightsByGroup, cancellationToken);
        _options.Log?.Invoke($"routed {scope.Key} on {state.ProxyUrl}: {string.Join(", ", weightsByGroup.Select(w => $"{w.Key} {w.Value}%"))}");
    }

    /// <inheritdoc />
    public async Task DecommissionAsync(DeploymentScope scope, string group, TimeSpan drain, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        LocalGroupName.Validate(group);
        using var control = await LocalHostControl.TryConnectAsync(_options.StateDirectory, _options.Time, cancellationToken);
        if (control is null)
        {
            return;
        }

        var stopped = await control.StopGroupAsync(scope, group, drain < TimeSpan.Zero ? TimeSpan.Zero : drain, _options.StopGrace, cancellationToken);
        _options.Log?.Invoke($"decommissioned group {group} of {scope.Key}: {stopped.Count} instance(s) stopped");
    }

    /// <inheritdoc />
    public async Task PruneAsync(DeploymentScope scope, IReadOnlyCollection<string> keepImageDigests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(keepImageDigests);
        var keep = new HashSet<string>(keepImageDigests, StringComparer.Ordinal);
        using (var control = await LocalHostControl.TryConnectAsync(_options.StateDirectory, _options.Time, cancellationToken))
        {
            if (control is not null)
            {
                await control.PruneAsync(scope, cancellationToken);

                // Releases are shared by every scope of the state directory: one still running anywhere stays.
                foreach (var instance in await control.ListAsync(cancellationToken))
                {
                    if (instance.Status != LocalInstanceStatus.Exited)
                    {
                        keep.Add(instance.ImageDigest);
                    }
                }
            }
        }

        await _releases.PruneAsync(keep, cancellationToken);
    }

    private static InstanceInfo ToInfo(DeploymentScope scope, LocalInstance instance) =>
        new(instance.Id, scope, instance.ReleaseId, instance.ImageDigest, instance.Group, instance.Address, instance.Status)
        {
            Detail = instance.Status == LocalInstanceStatus.Exited ? ExitDetail(instance) : null,
        };

    /// <summary>
    /// Exit code, log path and the log's last lines (where a crash at start leaves its exception): the log is on this
    /// machine, so the target reads it rather than have the host ship it.
    /// </summary>
    private static string ExitDetail(LocalInstance instance)
    {
        var code = instance.ExitCode is { } c ? $"exit code {c.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : "exit code unknown";
        string tail;
        try
        {
            var lines = File.ReadLines(instance.LogFile).Where(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith("at ", StringComparison.Ordinal) && !l.TrimStart().StartsWith("--- End of", StringComparison.Ordinal))
                .TakeLast(LogTailLines).Select(l => l.Trim());
            tail = string.Join(" | ", lines);
            tail = tail.Length > LogTailChars ? "..." + tail[^LogTailChars..] : tail;
        }
        catch (IOException e)
        {
            tail = $"(log unreadable: {e.Message})";
        }
        catch (UnauthorizedAccessException e)
        {
            tail = $"(log unreadable: {e.Message})";
        }

        return $"{code}, log {instance.LogFile}; its last lines (stack frames left out): {tail}";
    }
}
