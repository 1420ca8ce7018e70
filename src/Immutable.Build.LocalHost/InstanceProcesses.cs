using Immutable.Build.Targets.Local;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Immutable.Build.Targets;

namespace Immutable.Build.LocalHost;

/// <summary>
/// The instances' operating-system side: starting a process with its log and environment, noticing when its port
/// answers and when it exits, ending it (SIGTERM, then SIGKILL), and reaping the orphans of a previous host. What
/// the supervisor makes of readiness and exits (routes, state) is its own: it gets them as callbacks.
/// </summary>
internal sealed class InstanceProcesses(TimeProvider time, Action<Instance> ready, Action<Instance> exited)
{
    /// <summary>What an instance inherits from the host's environment; the rest comes from the image and the launch.</summary>
    private static readonly string[] InheritedVariables =
    [
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "XDG_RUNTIME_DIR",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "DOTNET_ROOT", "DOTNET_CLI_TELEMETRY_OPTOUT", "DOTNET_NOLOGO",
        // A test run marks every process it starts with this, to find leftovers.
        "IMMUTABLE_BUILD_RUN",
    ];

    private static readonly TimeSpan ReadinessTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan OrphanGrace = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan AfterKill = TimeSpan.FromSeconds(10);

    /// <summary>Starts the instance's process; <paramref name="instance"/> gets its pid and start time.</summary>
    public void Start(Instance instance, LocalLaunchCommand command)
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

        PrivateFiles.AppendAllText(instance.LogFile, $"== {time.GetUtcNow():O} {instance.Id}: {command.FileName} {string.Join(' ', command.Arguments)} (release {command.ReleaseId}, port {instance.Port})\n");
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.Exited += (_, _) => exited(instance);
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
        instance.ProcessStart = LocalProcesses.StartTimeOf(process.Id) ?? 0;
        HostLog.Line($"scope {instance.ScopeKey}: started {instance.Id} (pid {instance.Pid}, port {instance.Port}, release {instance.ReleaseId}, {instance.ImageDigest})");
        _ = WatchReadinessAsync(instance);
    }

    /// <summary>The exit code of an exited instance; null when the process handle cannot tell.</summary>
    public static int? ExitCodeOf(Instance instance)
    {
        try
        {
            return instance.Process?.ExitCode;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>SIGTERM to the live ones, SIGKILL to those still running after <paramref name="grace"/>, then waits for their end.</summary>
    public async Task TerminateAsync(IReadOnlyCollection<Instance> instances, TimeSpan grace, CancellationToken ct)
    {
        var live = instances.Where(i => i.Process is { } p && !HasExited(p)).ToList();
        foreach (var instance in live)
        {
            Posix.Signal(instance.Pid, Posix.SigTerm);
        }

        await Wait.UntilAsync(_ => new ValueTask<bool>(live.All(i => HasExited(i.Process!))), grace, TimeSpan.FromMilliseconds(25), time, ct);
        foreach (var instance in live.Where(i => !HasExited(i.Process!)))
        {
            HostLog.Line($"{instance.Id} (pid {instance.Pid}) ignored SIGTERM for {grace.TotalSeconds:0.#} s: SIGKILL");
            Posix.Signal(instance.Pid, Posix.SigKill);
        }

        foreach (var instance in live)
        {
            using var afterKill = new CancellationTokenSource(AfterKill, time);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct, afterKill.Token);
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

    /// <summary>
    /// Ends the instances a previous host left running: nothing supervises them any more. A recorded pid counts only
    /// while it is still the process that started then, so a pid the kernel gave to another program is left alone.
    /// </summary>
    public async Task ReapOrphansAsync(IEnumerable<LocalInstance> recorded, CancellationToken ct)
    {
        var orphans = recorded.Where(i => IsSameProcess(i.Pid, i.ProcessStart)).ToList();
        foreach (var orphan in orphans)
        {
            HostLog.Line($"orphan {orphan.Id} (pid {orphan.Pid}, {orphan.Scope}/{orphan.Group}) of a previous host: SIGTERM");
            Posix.Signal(orphan.Pid, Posix.SigTerm);
        }

        await Wait.UntilAsync(_ => new ValueTask<bool>(!orphans.Any(o => IsSameProcess(o.Pid, o.ProcessStart))), OrphanGrace, TimeSpan.FromMilliseconds(50), time, ct);
        foreach (var orphan in orphans.Where(o => IsSameProcess(o.Pid, o.ProcessStart)))
        {
            HostLog.Line($"orphan {orphan.Id} (pid {orphan.Pid}) still runs: SIGKILL");
            Posix.Signal(orphan.Pid, Posix.SigKill);
        }
    }

    /// <summary>A loopback port free right now, for an instance to listen on.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Reports the instance ready once its port accepts connections, so the proxy prefers it to ones still starting.</summary>
    private async Task WatchReadinessAsync(Instance instance)
    {
        await Wait.UntilAsync(
            async _ =>
            {
                if (instance.Status != LocalInstanceStatus.Starting)
                {
                    return true;
                }

                try
                {
                    using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    await socket.ConnectAsync(IPAddress.Loopback, instance.Port);
                }
                catch (SocketException)
                {
                    return false;
                }

                ready(instance);
                return true;
            },
            ReadinessTimeout,
            TimeSpan.FromMilliseconds(100),
            time,
            CancellationToken.None);
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

    private static bool IsSameProcess(int pid, long processStart) =>
        LocalProcesses.StartTimeOf(pid) is { } start && start == processStart && processStart != 0;
}
