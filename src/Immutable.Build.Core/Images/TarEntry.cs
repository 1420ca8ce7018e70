namespace Immutable.Build.Images;

/// <summary>What a tar entry is.</summary>
public enum TarEntryKind
{
    /// <summary>A regular file with content.</summary>
    File,

    /// <summary>A directory.</summary>
    Directory,

    /// <summary>A symbolic link (tar type '2').</summary>
    Symlink,
}

/// <summary>
/// One entry of a <see cref="DeterministicTarWriter"/>. Only what makes the archive's bytes is kept:
/// path, kind, mode, size and link target; owners and times come from the writer, never from disk.
/// </summary>
public sealed record TarEntry
{
    /// <summary>Mode of directories and executable files.</summary>
    public const int ExecutableMode = 0b111_101_101; // 0755

    /// <summary>Mode of other files.</summary>
    public const int RegularMode = 0b110_100_100; // 0644

    /// <summary>Mode of symlinks: tar readers ignore it, and 0777 is what every tool writes.</summary>
    public const int SymlinkMode = 0b111_111_111; // 0777

    private TarEntry(TarEntryKind kind, string path, int mode, long size, string? linkTarget, Func<CancellationToken, ValueTask<Stream>>? open, string? sourcePath)
    {
        Kind = kind;
        Path = TarPath.Normalize(path);
        Mode = mode;
        Size = size;
        LinkTarget = linkTarget;
        Open = open;
        SourcePath = sourcePath;
    }

    /// <summary>The kind of entry.</summary>
    public TarEntryKind Kind { get; }

    /// <summary>Normalised relative path inside the archive, '/'-separated, without a trailing '/'.</summary>
    public string Path { get; }

    /// <summary>Permission bits (0755 or 0644 for content; 0777 for symlinks).</summary>
    public int Mode { get; }

    /// <summary>Content length in bytes; 0 for directories and symlinks.</summary>
    public long Size { get; }

    /// <summary>Target of a symlink, written as given.</summary>
    public string? LinkTarget { get; }

    /// <summary>The file on disk this entry was made from, if any (for messages and fingerprints).</summary>
    public string? SourcePath { get; }

    /// <summary>Opens the content of a file entry.</summary>
    internal Func<CancellationToken, ValueTask<Stream>>? Open { get; }

    /// <summary>A directory entry.</summary>
    public static TarEntry Directory(string path) => new(TarEntryKind.Directory, path, ExecutableMode, 0, null, null, null);

    /// <summary>A symlink entry; the target is kept as written (relative or absolute).</summary>
    public static TarEntry Symlink(string path, string target)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        return new(TarEntryKind.Symlink, path, SymlinkMode, 0, target, null, null);
    }

    /// <summary>A file entry with in-memory content.</summary>
    public static TarEntry FromBytes(string path, byte[] content, bool executable = false)
    {
        ArgumentNullException.ThrowIfNull(content);
        return new(TarEntryKind.File, path, executable ? ExecutableMode : RegularMode, content.LongLength, null,
            _ => ValueTask.FromResult<Stream>(new MemoryStream(content, writable: false)), null);
    }

    /// <summary>A file entry whose content of known length comes from a stream opened when the entry is written.</summary>
    public static TarEntry FromStream(string path, long size, Func<CancellationToken, ValueTask<Stream>> open, bool executable = false)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        return new(TarEntryKind.File, path, executable ? ExecutableMode : RegularMode, size, null, open, null);
    }

    /// <summary>
    /// An entry for a file, symlink or directory on disk: a symlink stays a symlink, a file is 0755 when
    /// any execute bit is set on disk (never on Windows, which has none) and 0644 otherwise.
    /// A directory source gives only its own entry, not its content.
    /// </summary>
    public static TarEntry FromDisk(string sourcePath, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourcePath);
        var info = Stat(sourcePath);
        return FromDisk(info, path);
    }

    internal static TarEntry FromDisk(FileSystemInfo info, string path)
    {
        var source = info.FullName;
        if (info.LinkTarget is { } target)
        {
            return new(TarEntryKind.Symlink, path, SymlinkMode, 0, target, null, source);
        }

        if (info is DirectoryInfo)
        {
            return new(TarEntryKind.Directory, path, ExecutableMode, 0, null, null, source);
        }

        var file = (FileInfo)info;
        return new(TarEntryKind.File, path, IsExecutable(file) ? ExecutableMode : RegularMode, file.Length, null, _ => OpenSource(source), source);
    }

    /// <summary>Reads a path's metadata without following a final symlink.</summary>
    internal static FileSystemInfo Stat(string sourcePath)
    {
        try
        {
            FileSystemInfo info = new FileInfo(sourcePath);
            if (!info.Exists && info.LinkTarget is null)
            {
                info = new DirectoryInfo(sourcePath);
                if (!info.Exists)
                {
                    throw ImageErrors.SourceUnreadable(sourcePath);
                }
            }

            return info;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ImageErrors.SourceUnreadable(sourcePath, e);
        }
    }

    private static bool IsExecutable(FileInfo file)
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        return (file.UnixFileMode & anyExecute) != 0;
    }

    private static ValueTask<Stream> OpenSource(string source)
    {
        try
        {
            return ValueTask.FromResult<Stream>(new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ImageErrors.SourceUnreadable(source, e);
        }
    }
}

/// <summary>Normalises and orders archive paths.</summary>
internal static class TarPath
{
    /// <summary>
    /// '\' becomes '/' (paths may come from a Windows build), leading '/' and './' and '.' segments go;
    /// '..' is refused because a layer must not write outside the image root.
    /// </summary>
    public static string Normalize(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var segments = path.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        var kept = new List<string>(segments.Length);
        foreach (var s in segments)
        {
            if (s == "..")
            {
                throw ImageErrors.InvalidPath(path, "'..' would leave the image root");
            }

            if (s != ".")
            {
                kept.Add(s);
            }
        }

        if (kept.Count == 0)
        {
            throw ImageErrors.InvalidPath(path, "it names the image root, not an entry");
        }

        if (kept.Any(s => s.Contains('\0', StringComparison.Ordinal)))
        {
            throw ImageErrors.InvalidPath(path, "it contains a NUL character");
        }

        return string.Join('/', kept);
    }
}
