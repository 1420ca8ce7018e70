using Microsoft.Win32.SafeHandles;

namespace Immutable.Build;

/// <summary>
/// Folders and files of the state directory, private to the user whatever the umask: folders 0700, files 0600.
/// The state holds the control token, the ledger and the instances' logs; .NET would create them 0777/0666 less
/// the umask, readable by everyone under the usual 022. On Windows the modes do not apply and these are plain calls.
/// </summary>
public static class PrivateFiles
{
    /// <summary>rwx for the user only.</summary>
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>rw for the user only.</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>What no file or folder of the state may grant.</summary>
    public const UnixFileMode GroupAndOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// Creates <paramref name="path"/> and its missing parents 0700, and makes an existing <paramref name="path"/> 0700
    /// (a state directory written by an earlier version, or created under a permissive umask); returns its full path.
    /// </summary>
    public static string CreateDirectory(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(full);
            return full;
        }

        // Each missing level made here, so that every one is 0700 and not only the last, and exactly 0700 whatever the umask.
        var missing = new Stack<string>();
        for (string? dir = full; dir is not null && !Directory.Exists(dir); dir = Path.GetDirectoryName(dir))
        {
            missing.Push(dir);
        }

        while (missing.TryPop(out var dir))
        {
            Directory.CreateDirectory(dir, DirectoryMode);
            Restrict(dir, DirectoryMode);
        }

        Restrict(full, DirectoryMode);
        return full;
    }

    /// <summary>Creates the folder <paramref name="file"/> goes in (see <see cref="CreateDirectory"/>); returns <paramref name="file"/>.</summary>
    public static string CreateParent(string file)
    {
        CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        return file;
    }

    /// <summary>
    /// Opens <paramref name="path"/> like <c>new FileStream(path, mode, access, share)</c>, a new file created 0600 and an
    /// existing one made 0600: a journal appended to since an earlier version keeps its old mode otherwise.
    /// </summary>
    public static FileStream Open(string path, System.IO.FileMode mode, FileAccess access, FileShare share, int bufferSize = 4096, FileOptions options = FileOptions.None)
    {
        var streamOptions = new FileStreamOptions { Mode = mode, Access = access, Share = share, BufferSize = bufferSize, Options = options };
        if (!OperatingSystem.IsWindows() && mode != System.IO.FileMode.Open && mode != System.IO.FileMode.Truncate)
        {
            streamOptions.UnixCreateMode = FileMode;
        }

        var stream = new FileStream(path, streamOptions);
        if (!OperatingSystem.IsWindows())
        {
            try
            {
                Restrict(stream.SafeFileHandle);
            }
            catch
            {
                stream.Dispose();
                throw;
            }
        }

        return stream;
    }

    /// <summary>Appends UTF-8 <paramref name="text"/> to <paramref name="path"/>, creating it 0600.</summary>
    public static void AppendAllText(string path, string text)
    {
        using var stream = Open(path, System.IO.FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        stream.Write(System.Text.Encoding.UTF8.GetBytes(text));
    }

    /// <summary>
    /// 0600 for a file about to be created in a folder that grants nothing to group or other, else null (the umask's
    /// default): whatever writes into the state directory, its files are as private as the folders they are in.
    /// </summary>
    public static UnixFileMode? ModeFor(string file)
    {
        if (OperatingSystem.IsWindows() || Path.GetDirectoryName(Path.GetFullPath(file)) is not { } folder)
        {
            return null;
        }

        try
        {
            return (File.GetUnixFileMode(folder) & GroupAndOther) == 0 ? FileMode : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void Restrict(string path, UnixFileMode exactly)
    {
        if (File.GetUnixFileMode(path) != exactly)
        {
            File.SetUnixFileMode(path, exactly);
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void Restrict(SafeFileHandle handle)
    {
        var mode = File.GetUnixFileMode(handle);
        if ((mode & GroupAndOther) != 0)
        {
            File.SetUnixFileMode(handle, mode & ~GroupAndOther);
        }
    }
}
