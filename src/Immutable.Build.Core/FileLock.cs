namespace Immutable.Build;

/// <summary>
/// An exclusive OS lock on a file (flock on Unix, a share-none handle on Windows). The OS drops it when the
/// holder dies, so a killed process never leaves a stale lock. Waiters poll on a <see cref="TimeProvider"/>.
/// Every lock lives in the state directory, so its file is created 0600 (<see cref="PrivateFiles"/>).
/// </summary>
public sealed class FileLock : IDisposable
{
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(100);
    private readonly FileStream _stream;

    private FileLock(string path, FileStream stream)
    {
        Path = path;
        _stream = stream;
    }

    /// <summary>The locked file.</summary>
    public string Path { get; }

    /// <summary>Takes the lock if it is free; null while another holder has it.</summary>
    /// <exception cref="IOException">The file cannot be created or opened for another reason than a holder.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder or file is not writable.</exception>
    public static FileLock? TryAcquire(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try
        {
            return new FileLock(path, PrivateFiles.Open(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException) when (File.Exists(path))
        {
            return null;
        }
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the lock; null when it stayed held.</summary>
    public static async Task<FileLock?> AcquireAsync(string path, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        FileLock? taken = null;
        await Wait.UntilAsync(
            _ => new ValueTask<bool>((taken = TryAcquire(path)) is not null),
            timeout,
            PollEvery,
            time,
            cancellationToken);
        return taken;
    }

    /// <inheritdoc />
    public void Dispose() => _stream.Dispose();
}
