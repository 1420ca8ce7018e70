using System.Runtime.InteropServices;

namespace Immutable.Build.LocalHost;

/// <summary>Signals: .NET 8's Process can only SIGKILL, and a graceful stop needs SIGTERM.</summary>
internal static class Posix
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    /// <summary>Sends <paramref name="signal"/>; false when the process is gone.</summary>
    public static bool Signal(int pid, int signal) => pid > 0 && Kill(pid, signal) == 0;

    // DllImport rather than LibraryImport: two ints need no marshalling, and no unsafe code.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int signal);
}
