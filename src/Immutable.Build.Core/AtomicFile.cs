using System.Runtime.InteropServices;

namespace Immutable.Build;

/// <summary>
/// Writes a file so that a reader (or a process killed mid-write) sees either the old content or the new,
/// never a torn one: the bytes go to a temporary name in the same folder, are flushed, and are renamed over.
/// A full disk is IMB0020 naming the file, and the temporary file is removed.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/>.</summary>
    /// <param name="path">The file to write.</param>
    /// <param name="bytes">Its whole new content.</param>
    /// <param name="overwrite">False: keep a file that already exists.</param>
    /// <param name="unixMode">On Unix, the mode the file is created with (e.g. 0600 for a file holding a token), so it is never readable by others, not even while empty; null: 0600 in a folder private to the user (the state directory, see <see cref="PrivateFiles"/>), else the umask's default.</param>
    /// <returns>False only when <paramref name="overwrite"/> is false and the file already existed (it is left as it was).</returns>
    public static bool WriteAllBytes(string path, ReadOnlySpan<byte> bytes, bool overwrite = true, UnixFileMode? unixMode = null)
    {
        var temp = TempPathFor(path);
        try
        {
            using (var stream = new FileStream(temp, CreateOptions(temp, unixMode, async: false)))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            return Commit(temp, path, overwrite);
        }
        catch (IOException e) when (DiskFull.Is(e))
        {
            throw DiskFull.Error(path, e);
        }
        finally
        {
            DeleteQuietly(temp);
        }
    }

    /// <summary>Writes UTF-8 <paramref name="text"/> (no byte-order mark) to <paramref name="path"/>.</summary>
    public static bool WriteAllText(string path, string text, bool overwrite = true, UnixFileMode? unixMode = null) =>
        WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text), overwrite, unixMode);

    /// <summary>Writes what <paramref name="write"/> puts into the stream to <paramref name="path"/>.</summary>
    /// <param name="path">The file to write.</param>
    /// <param name="write">Writes the whole new content.</param>
    /// <param name="overwrite">False: keep a file that already exists.</param>
    /// <param name="cancellationToken">Stops the write; the old file stays.</param>
    /// <param name="unixMode">On Unix, the mode the file is created with; null: 0600 in a folder private to the user, else the umask's default.</param>
    /// <returns>False only when <paramref name="overwrite"/> is false and the file already existed.</returns>
    public static async Task<bool> WriteAsync(string path, Func<Stream, CancellationToken, Task> write, bool overwrite, CancellationToken cancellationToken, UnixFileMode? unixMode = null)
    {
        ArgumentNullException.ThrowIfNull(write);
        var temp = TempPathFor(path);
        try
        {
            await using (var stream = new FileStream(temp, CreateOptions(temp, unixMode, async: true)))
            {
                await write(stream, cancellationToken);
                await stream.FlushAsync(cancellationToken);
            }

            return Commit(temp, path, overwrite);
        }
        catch (IOException e) when (DiskFull.Is(e))
        {
            throw DiskFull.Error(path, e);
        }
        finally
        {
            DeleteQuietly(temp);
        }
    }

    private static FileStreamOptions CreateOptions(string temp, UnixFileMode? unixMode, bool async)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = async ? 1 << 16 : 4096,
            Options = async ? FileOptions.Asynchronous : FileOptions.None,
        };
        if (!OperatingSystem.IsWindows() && (unixMode ?? PrivateFiles.ModeFor(temp)) is { } mode)
        {
            options.UnixCreateMode = mode;
        }

        return options;
    }

    /// <summary>A unique temporary name beside <paramref name="path"/>: same folder, so the rename never crosses file systems.</summary>
    public static string TempPathFor(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
    }

    /// <summary>
    /// Renames a finished <paramref name="temp"/> (from <see cref="TempPathFor"/>) to <paramref name="path"/>: for
    /// content whose name is known only once it is written, such as a blob named by its digest.
    /// </summary>
    /// <returns>False only when <paramref name="overwrite"/> is false and the file already existed (it is left as it was, and so is <paramref name="temp"/>).</returns>
    public static bool Commit(string temp, string path, bool overwrite)
    {
        if (overwrite)
        {
            File.Move(temp, path, overwrite: true);
            return true;
        }

        // File.Move without overwrite checks, then renames: two writers can both "win", the second over the first.
        // link(2) fails with EEXIST when the name exists, atomically; Windows' MoveFileEx already is.
        if (!OperatingSystem.IsWindows())
        {
            if (Link(temp, path) == 0)
            {
                DeleteQuietly(temp);
                return true;
            }

            if (Marshal.GetLastPInvokeError() == AlreadyExists)
            {
                return false;
            }

            // A file system without hard links: the move below, with its small window.
        }

        try
        {
            File.Move(temp, path, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another writer got there first; content-addressed callers take theirs as equal.
            return false;
        }
    }

    private const int AlreadyExists = 17; // EEXIST on Linux and macOS

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string created);

    private static void DeleteQuietly(string temp)
    {
        try
        {
            File.Delete(temp);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover .tmp is harmless: nobody reads it, and the next write uses a new name.
        }
    }
}
