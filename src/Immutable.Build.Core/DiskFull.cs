namespace Immutable.Build;

/// <summary>
/// A write the file system refused for want of space (ENOSPC, or EDQUOT for a user's quota), told apart from other
/// I/O failures so that it reads as IMB0020 naming the file, not as an unexpected failure with a stack trace.
/// </summary>
public static class DiskFull
{
    // .NET puts the raw errno in HResult for the errors it maps to no exception type of its own.
    private const int NoSpace = 28; // ENOSPC on Linux and macOS
    private const int LinuxQuota = 122; // EDQUOT
    private const int MacQuota = 69; // EDQUOT

    /// <summary>Whether <paramref name="e"/> is a write refused because the disk (or the quota) is full.</summary>
    public static bool Is(Exception? e)
    {
        if (e is not IOException io)
        {
            return false;
        }

        if (OperatingSystem.IsWindows())
        {
            // ERROR_DISK_FULL and ERROR_HANDLE_DISK_FULL, as HRESULTs of the Win32 facility.
            return io.HResult is unchecked((int)0x80070070) or unchecked((int)0x80070027);
        }

        return io.HResult == NoSpace || io.HResult == (OperatingSystem.IsMacOS() ? MacQuota : LinuxQuota);
    }

    /// <summary>IMB0020 for <paramref name="path"/>, whose write <paramref name="inner"/> refused.</summary>
    public static ImmutableBuildException Error(string path, Exception inner)
    {
        var full = Path.GetFullPath(path);
        return new ImmutableBuildException(
            GeneralErrors.DiskFull,
            $"The disk is full: {full} could not be written (the file system of {Path.GetDirectoryName(full)} has no space left, or the user's quota is used up). Nothing was half-written. Free space there, or point the state directory / output folder at another disk, and run again.",
            inner);
    }
}
