namespace Immutable.Build.Targets.Local;

/// <summary>
/// The life of a state directory's local host as its clients see it: started on demand (one starter at a time),
/// detached so it outlives its starter, waited for until it answers, and stopped with everything it owns.
/// </summary>
internal static class LocalHostLauncher
{
    private const string StartLockName = "host-start.lock";
    private static readonly TimeSpan StartPollEvery = TimeSpan.FromMilliseconds(100);

    public static async Task<LocalHostControl> ConnectOrStartAsync(LocalTargetOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var time = options.Time;
        var stateDirectory = LocalStateFiles.EnsureDirectory(options.StateDirectory);
        if (await LocalHostControl.TryConnectAsync(stateDirectory, time, cancellationToken) is { } running)
        {
            return running;
        }

        // One starter at a time per state directory; the others find the host it started.
        using var startLock = await FileLock.AcquireAsync(Path.Combine(stateDirectory, StartLockName), options.HostStartTimeout, time, cancellationToken)
            ?? throw LocalErrors.HostUnavailable(stateDirectory, $"another process has been starting the host for {options.HostStartTimeout.TotalSeconds:0} s");
        if (await LocalHostControl.TryConnectAsync(stateDirectory, time, cancellationToken) is { } startedMeanwhile)
        {
            return startedMeanwhile;
        }

        var hostAssembly = Path.GetFullPath(options.HostAssemblyPath);
        if (!File.Exists(hostAssembly))
        {
            throw LocalErrors.HostMissing("The local host assembly", hostAssembly);
        }

        var dotnet = LocalProcesses.ResolveDotnet(options.DotnetPath);
        var log = Path.Combine(stateDirectory, LocalHostControl.HostLogName);
        var previous = await LocalStateFiles.ReadHostFileAsync(stateDirectory, cancellationToken);
        try
        {
            // The shell's >> would create it under the caller's umask.
            PrivateFiles.AppendAllText(log, "");
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

        // The new host announces itself by replacing host.json; until then, connecting would find the old one.
        var started = await Wait.ForAsync(
            async ct =>
            {
                var host = await LocalStateFiles.ReadHostFileAsync(stateDirectory, ct);
                return host is null || host == previous ? null : await LocalHostControl.TryConnectAsync(stateDirectory, time, ct);
            },
            options.HostStartTimeout,
            StartPollEvery,
            time,
            cancellationToken)
            ?? throw LocalErrors.HostUnavailable(stateDirectory, $"it did not answer within {options.HostStartTimeout.TotalSeconds:0} s; the end of its log:\n{Tail(log, 20)}");
        options.Log?.Invoke($"local host {started.HostProcessId} answers on 127.0.0.1:{started.ControlPort}");
        return started;
    }

    public static async Task<bool> StopAsync(string stateDirectory, TimeSpan? grace, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        stateDirectory = Path.GetFullPath(stateDirectory);
        var wait = grace ?? TimeSpan.FromSeconds(10);
        var stopped = false;
        using (var control = await LocalHostControl.TryConnectAsync(stateDirectory, time, cancellationToken))
        {
            if (control is not null)
            {
                await control.RequestShutdownAsync(wait, cancellationToken);
                await LocalProcesses.WaitGoneAsync(control.HostProcessId, control.HostProcessStart, wait + TimeSpan.FromSeconds(10), time, cancellationToken);
                stopped = true;
            }
        }

        // Whatever is still recorded (a host that did not answer, or instances it could not stop) is killed.
        if (await LocalStateFiles.ReadHostFileAsync(stateDirectory, cancellationToken) is { } host)
        {
            stopped |= LocalProcesses.KillIfSame(host.Pid, host.ProcessStart);
            await LocalProcesses.WaitGoneAsync(host.Pid, host.ProcessStart, TimeSpan.FromSeconds(5), time, cancellationToken);
            File.Delete(Path.Combine(stateDirectory, LocalHostControl.HostFileName));
        }

        if (await LocalStateFiles.ReadStateAsync(stateDirectory, cancellationToken) is { } state)
        {
            foreach (var instance in state.Instances)
            {
                stopped |= LocalProcesses.KillIfSame(instance.Pid, instance.ProcessStart);
            }
        }

        return stopped;
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
