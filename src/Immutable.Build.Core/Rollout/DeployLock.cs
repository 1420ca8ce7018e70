using System.Text.Json;

namespace Immutable.Build.Rollout;

/// <summary>
/// The per-scope deploy lock: an exclusive OS file lock on <c>lock</c> (flock on Unix, a share-none handle on
/// Windows), held for the whole rollout. The OS drops it when the holder dies, so a killed deployer never leaves
/// a stale lock. Who holds it is written next to it in <c>lock.holder</c>, because the locked file itself cannot be
/// opened by the waiter.
/// </summary>
internal sealed class DeployLock : IDisposable
{
    private static readonly TimeSpan RetryEvery = TimeSpan.FromMilliseconds(100);
    private readonly FileStream _stream;
    private readonly string _holderPath;

    private DeployLock(FileStream stream, string holderPath)
    {
        _stream = stream;
        _holderPath = holderPath;
    }

    public static async Task<DeployLock> AcquireAsync(string directory, string purpose, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var path = Path.Combine(directory, "lock");
        var holderPath = path + ".holder";
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            FileStream? stream = null;
            try
            {
                stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Held by another deployer (or another engine in this process).
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw RolloutErrors.State(path, e);
            }

            if (stream is not null)
            {
                var holder = new LockHolder(Environment.ProcessId, Environment.MachineName, time.GetUtcNow(), purpose);
                var temp = $"{holderPath}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
                File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(holder, RolloutJsonContext.Default.LockHolder));
                File.Move(temp, holderPath, overwrite: true);
                return new DeployLock(stream, holderPath);
            }

            if (time.GetUtcNow() >= deadline)
            {
                var who = ReadHolder(holderPath);
                throw new ImmutableBuildException(
                    RolloutErrors.LockTimeout,
                    $"Another rollout holds the deploy lock {path}{(who is null ? "" : $": pid {who.Pid} on {who.Host} ({who.Purpose}) since {who.Since:u}")}; waited {timeout.TotalSeconds:0.#}s. Wait for it to finish and run again; a lock of a process that died is released by the operating system.");
            }

            await Task.Delay(RetryEvery, time, cancellationToken);
        }
    }

    public void Dispose()
    {
        try
        {
            File.Delete(_holderPath);
        }
        catch (IOException)
        {
            // The holder note is informational; the OS lock below is what counts.
        }

        _stream.Dispose();
    }

    private static LockHolder? ReadHolder(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), RolloutJsonContext.Default.LockHolder);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
