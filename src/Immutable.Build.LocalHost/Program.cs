using Immutable.Build.Targets.Local;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using Immutable.Build;
using Immutable.Build.LocalHost;
using Immutable.Build.Targets;
using Yarp.ReverseProxy.Forwarder;

// Usage:
//   Immutable.Build.LocalHost run    --state-dir <dir>   the host itself (started detached by LocalHostControl)
//   Immutable.Build.LocalHost ensure --state-dir <dir>   starts the host when none answers, prints its pid and control port
//   Immutable.Build.LocalHost stop   --state-dir <dir>   stops the host and every instance
//   Immutable.Build.LocalHost proxy  --port <n> [--listen <ip>] [--routes <file>] [--applied <file>] [--scope <key>]
//                                                        one app's proxy, routed by a file (the Docker target's proxy)
var verb = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "run";
var options = Options.Parse(args.SkipWhile(a => !a.StartsWith('-')).ToArray());
var stateDirectory = Path.GetFullPath(options.GetValueOrDefault("state-dir") ?? LocalTargetOptions.DefaultStateDirectory());
var time = TimeProvider.System;
try
{
    return verb switch
    {
        "run" => await HostMain.RunAsync(stateDirectory, time),
        "ensure" => await HostMain.EnsureAsync(stateDirectory, time),
        "stop" => await HostMain.StopAsync(stateDirectory, time),
        "proxy" => await StandaloneProxy.RunAsync(options, time),
        _ => HostMain.Usage(verb),
    };
}
catch (ImmutableBuildException e)
{
    Console.Error.WriteLine($"error {e.Code}: {e.Message}");
    return 1;
}

internal static class Options
{
    public static Dictionary<string, string> Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        return values;
    }
}

internal static class HostMain
{
    public static int Usage(string verb)
    {
        Console.Error.WriteLine($"unknown command '{verb}'; use run, ensure or stop with --state-dir <dir>");
        return 2;
    }

    public static async Task<int> EnsureAsync(string stateDirectory, TimeProvider time)
    {
        using var control = await LocalHostControl.ConnectOrStartAsync(new LocalTargetOptions(stateDirectory, typeof(HostMain).Assembly.Location) { Time = time });
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"local host {control.HostProcessId} answers on 127.0.0.1:{control.ControlPort} ({stateDirectory})"));
        return 0;
    }

    public static async Task<int> StopAsync(string stateDirectory, TimeProvider time)
    {
        var stopped = await LocalHostControl.StopAsync(stateDirectory, null, time, CancellationToken.None);
        Console.WriteLine(stopped ? $"local host of {stateDirectory} stopped" : $"no local host runs for {stateDirectory}");
        return 0;
    }

    public static async Task<int> RunAsync(string stateDirectory, TimeProvider time)
    {
        LocalStateFiles.EnsureDirectory(stateDirectory);

        // One host per state directory: the lock is the kernel's, so it goes away with the process.
        FileLock? hostLock;
        try
        {
            hostLock = FileLock.TryAcquire(Path.Combine(stateDirectory, "host.lock"));
        }
        catch (IOException e)
        {
            HostLog.Line($"another host runs for {stateDirectory} ({e.Message}); exiting");
            return 3;
        }

        if (hostLock is null)
        {
            HostLog.Line($"another host runs for {stateDirectory} (host.lock is held); exiting");
            return 3;
        }

        using var _ = hostLock;
        var version = typeof(HostMain).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
        var pid = Environment.ProcessId;
        HostLog.Line($"local host {version} pid {pid} for {stateDirectory}");

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHttpForwarder();
        await using var provider = services.BuildServiceProvider();
        await using var supervisor = new Supervisor(stateDirectory, provider.GetRequiredService<IHttpForwarder>(), time);
        await supervisor.RestoreAsync(CancellationToken.None);

        var stopping = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            HostLog.Line($"{context.Signal}: shutting down");
            stopping.TrySetResult(TimeSpan.FromSeconds(10));
        }

        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
        var startedAt = time.GetUtcNow();
        await using var api = await ControlApi.StartAsync(
            supervisor,
            token,
            new LocalHostStatus(pid, version, startedAt, stateDirectory),
            grace => stopping.TrySetResult(grace),
            CancellationToken.None);

        var hostFile = Path.Combine(stateDirectory, LocalHostControl.HostFileName);
        await WritePrivateAsync(hostFile, JsonSerializer.SerializeToUtf8Bytes(new LocalHostFile(pid, api.Port, token, startedAt, version, LocalProcesses.StartTimeOf(pid) ?? 0), LocalJsonContext.Default.LocalHostFile));
        HostLog.Line($"control API on 127.0.0.1:{api.Port}");

        var grace = await stopping.Task;
        await supervisor.ShutdownAsync(grace, CancellationToken.None);
        try
        {
            if (await LocalStateFiles.ReadHostFileAsync(stateDirectory, CancellationToken.None) is { } file && file.Pid == pid)
            {
                File.Delete(hostFile);
            }
        }
        catch (IOException e)
        {
            HostLog.Line($"could not remove {hostFile}: {e.Message}");
        }

        HostLog.Line("stopped");
        return 0;
    }

    /// <summary>Writes a file only the user can read (it holds the control token), replacing it atomically.</summary>
    private static Task WritePrivateAsync(string path, byte[] content) =>
        AtomicFile.WriteAsync(path, (stream, ct) => stream.WriteAsync(content, ct).AsTask(), overwrite: true, CancellationToken.None, UnixFileMode.UserRead | UnixFileMode.UserWrite);
}
