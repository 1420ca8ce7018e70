using System.Diagnostics;
using System.Globalization;

namespace Immutable.Build.Targets.Local;

/// <summary>Process facts read from /proc, and starting a process that outlives its starter.</summary>
internal static class LocalProcesses
{
    /// <summary>
    /// The kernel's start time of <paramref name="pid"/> (clock ticks after boot), or null when no live process
    /// has that pid. A zombie counts as gone: it runs nothing and only waits for a parent to reap it.
    /// </summary>
    public static long? StartTimeOf(int pid)
    {
        if (pid <= 0)
        {
            return null;
        }

        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // The command name (field 2) may hold spaces and parentheses; the fields after its last ')' do not.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        if (fields.Length < 20 || fields[0] is "Z" or "X")
        {
            return null;
        }

        return long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start) ? start : null;
    }

    /// <summary>True when <paramref name="pid"/> is alive and still the process that started at <paramref name="processStart"/> (0: any).</summary>
    public static bool IsAlive(int pid, long processStart) =>
        StartTimeOf(pid) is { } start && (processStart == 0 || start == processStart);

    /// <summary>SIGKILLs <paramref name="pid"/> when it is still the process that started at <paramref name="processStart"/>.</summary>
    public static bool KillIfSame(int pid, long processStart)
    {
        if (!IsAlive(pid, processStart))
        {
            return false;
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
            return true;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>Waits until <paramref name="pid"/> is gone; false at the timeout.</summary>
    public static Task<bool> WaitGoneAsync(int pid, long processStart, TimeSpan timeout, TimeProvider time, CancellationToken ct) =>
        Wait.UntilAsync(_ => new ValueTask<bool>(!IsAlive(pid, processStart)), timeout, TimeSpan.FromMilliseconds(50), time, ct);

    /// <summary>
    /// Starts <paramref name="fileName"/> detached: its own session (setsid), stdin from /dev/null, stdout and stderr
    /// appended to <paramref name="logFile"/>, and every other inherited descriptor closed. A shell's
    /// <c>$(dotnet publish ...)</c> waits for every holder of its pipe; a process that keeps none is not waited for.
    /// </summary>
    public static async Task StartDetachedAsync(string fileName, IReadOnlyList<string> arguments, string logFile, CancellationToken ct)
    {
        var bash = File.Exists("/bin/bash") ? "/bin/bash" : null;
        var setsid = File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid" : File.Exists("/bin/setsid") ? "/bin/setsid" : null;
        const string Redirect = "log=$1; shift; exec </dev/null >>\"$log\" 2>&1; ";
        const string CloseInherited = "for fd in /proc/$$/fd/*; do fd=${fd##*/}; case $fd in 0|1|2) ;; *) eval \"exec $fd>&-\" 2>/dev/null ;; esac; done; ";
        var launch = setsid is null
            ? "\"$@\" & "
            : $"exec {setsid} -f \"$@\"";
        var start = new ProcessStartInfo(bash ?? "/bin/sh")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Redirect + (bash is null ? "" : CloseInherited) + launch);
        start.ArgumentList.Add("immutable-local-start");
        start.ArgumentList.Add(logFile);
        start.ArgumentList.Add(fileName);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("the shell did not start");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(ct);
        var error = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"the detaching shell exited with {process.ExitCode}: {(await output + await error).Trim()}");
        }
    }

    /// <summary>The dotnet executable: the explicit one, DOTNET_HOST_PATH, this process when it is dotnet, else the first on PATH.</summary>
    public static string ResolveDotnet(string? explicitPath)
    {
        if (!string.IsNullOrEmpty(explicitPath))
        {
            return File.Exists(explicitPath) ? Path.GetFullPath(explicitPath) : throw LocalErrors.HostMissing("The dotnet executable", explicitPath);
        }

        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
        {
            return hostPath;
        }

        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            return self;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw LocalErrors.HostMissing("The dotnet executable (DOTNET_HOST_PATH, PATH)", "dotnet");
    }
}
