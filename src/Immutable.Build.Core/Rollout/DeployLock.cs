using System.Text.Json;

namespace Immutable.Build.Rollout;

/// <summary>
/// The per-scope deploy lock: a <see cref="FileLock"/> on <c>lock</c>, held for the whole rollout, so a killed
/// deployer never leaves a stale lock. Who holds it is written next to it in <c>lock.holder</c>, because the
/// locked file itself cannot be opened by the waiter.
/// </summary>
internal sealed class DeployLock : IDisposable
{
    private readonly FileLock _lock;
    private readonly string _holderPath;

    private DeployLock(FileLock held, string holderPath)
    {
        _lock = held;
        _holderPath = holderPath;
    }

    public static async Task<DeployLock> AcquireAsync(string directory, string purpose, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var path = Path.Combine(directory, "lock");
        var holderPath = path + ".holder";
        FileLock? held;
        try
        {
            held = await FileLock.AcquireAsync(path, timeout, time, cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw RolloutErrors.State(path, e);
        }

        if (held is null)
        {
            var who = ReadHolder(holderPath);
            throw new ImmutableBuildException(
                RolloutErrors.LockTimeout,
                $"Another rollout holds the deploy lock {path}{(who is null ? "" : $": pid {who.Pid} on {who.Host} ({who.Purpose}) since {who.Since:u}")}; waited {timeout.TotalSeconds:0.#}s. Wait for it to finish and run again; a lock of a process that died is released by the operating system.");
        }

        try
        {
            var holder = new LockHolder(Environment.ProcessId, Environment.MachineName, time.GetUtcNow(), purpose);
            AtomicFile.WriteAllBytes(holderPath, JsonSerializer.SerializeToUtf8Bytes(holder, RolloutJsonContext.Default.LockHolder));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            held.Dispose();
            throw RolloutErrors.State(holderPath, e);
        }

        return new DeployLock(held, holderPath);
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

        _lock.Dispose();
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

/// <summary>Who holds a deploy lock, for the lock error.</summary>
internal sealed record LockHolder(int Pid, string Host, DateTimeOffset Since, string Purpose);
