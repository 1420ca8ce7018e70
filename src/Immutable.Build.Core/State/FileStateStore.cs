using System.Text;
using System.Text.Json;

namespace Immutable.Build.State;

/// <summary>
/// The default store: a folder on this machine, <c>&lt;stateDir&gt;/rollouts/&lt;scope key&gt;/</c> with
/// <c>journal.jsonl</c>, <c>ledger.jsonl</c>, <c>lock</c> and <c>lock.holder</c>. The lock is an OS lock
/// (<see cref="FileLock"/>), so a killed holder never leaves it behind; who holds it is written beside it because the
/// locked file cannot be read by a waiter. Every line is flushed to disk before the append returns.
/// </summary>
public sealed class FileStateStore : IStateStore
{
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(100);
    private readonly string _root;
    private readonly TimeProvider _time;
    private readonly RecordOrigin _origin;

    /// <summary>A store below <paramref name="stateDirectory"/>.</summary>
    public FileStateStore(string stateDirectory, TimeProvider? time = null, RecordOrigin? origin = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        StateDirectory = Path.GetFullPath(stateDirectory);
        _root = Path.Combine(StateDirectory, "rollouts");
        _time = time ?? TimeProvider.System;
        _origin = origin ?? RecordOrigin.Current();
    }

    /// <summary>The state directory.</summary>
    public string StateDirectory { get; }

    /// <inheritdoc />
    public string Location => new Uri(StateDirectory + Path.DirectorySeparatorChar).AbsoluteUri;

    /// <summary>The folder of one scope (created on first use).</summary>
    public string ScopeDirectory(string scopeKey) => Path.Combine(_root, scopeKey);

    /// <inheritdoc />
    public async Task<IStateLease> AcquireLockAsync(string scopeKey, LockRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var path = Path.Combine(EnsureScope(scopeKey), "lock");
        FileLock? held = null;
        try
        {
            await Wait.UntilAsync(_ => new ValueTask<bool>((held = FileLock.TryAcquire(path)) is not null), request.Timeout, PollEvery, _time, cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unusable(path, e);
        }

        if (held is null)
        {
            var who = ReadHolder(path + ".holder");
            throw new ImmutableBuildException(
                StateErrors.LockTimeout,
                $"Another rollout holds the deploy lock {path}{(who is null ? "" : $": {who.Describe()}")}; waited {request.Timeout.TotalSeconds:0.#}s. Wait for it to finish and run again; a lock of a process that died is released by the operating system.");
        }

        var holder = new LockHolder(_origin, request.Command, _time.GetUtcNow(), null, Guid.NewGuid().ToString("N"));
        try
        {
            AtomicFile.WriteAllBytes(path + ".holder", JsonSerializer.SerializeToUtf8Bytes(holder, StateJsonContext.Default.LockHolder));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            held.Dispose();
            throw Unusable(path + ".holder", e);
        }
        catch (ImmutableBuildException)
        {
            // A full disk (IMB0020): the lock is not kept by a rollout that cannot start.
            held.Dispose();
            throw;
        }

        return new Lease(held, path + ".holder", holder);
    }

    /// <inheritdoc />
    public Task<LockHolder?> ReadLockAsync(string scopeKey, CancellationToken cancellationToken)
    {
        var path = Path.Combine(ScopeDirectory(scopeKey), "lock");
        if (!File.Exists(path))
        {
            return Task.FromResult<LockHolder?>(null);
        }

        using var free = FileLock.TryAcquire(path);
        // A holder note beside a free lock is what a killed holder left: the OS let go, so nobody holds it.
        return Task.FromResult(free is null ? ReadHolder(path + ".holder") ?? new LockHolder(new RecordOrigin("?", "?", 0, null), "unknown", DateTimeOffset.MinValue, null, "") : null);
    }

    /// <inheritdoc />
    public Task<LockHolder?> ForceReleaseLockAsync(string scopeKey, CancellationToken cancellationToken)
    {
        var path = Path.Combine(ScopeDirectory(scopeKey), "lock");
        if (!File.Exists(path))
        {
            return Task.FromResult<LockHolder?>(null);
        }

        var note = ReadHolder(path + ".holder");
        using var free = FileLock.TryAcquire(path);
        if (free is null)
        {
            throw new ImmutableBuildException(
                StateErrors.LockHeldByLiveProcess,
                $"The deploy lock {path} is an operating-system lock held by a process that still runs{(note is null ? "" : $": {note.Describe()}")}. Stop that process; the lock is released as it exits.");
        }

        TryDelete(path + ".holder");
        return Task.FromResult(note);
    }

    /// <inheritdoc />
    public Task AppendAsync(string scopeKey, StateLog log, ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        var path = LogPath(EnsureScope(scopeKey), log);
        try
        {
            using var stream = PrivateFiles.Open(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite, 1);
            var before = stream.Length;
            try
            {
                // A process killed mid-write leaves a line without its newline; start on a fresh line so that only the
                // torn line is lost, never the one written now.
                if (before > 0)
                {
                    stream.Seek(-1, SeekOrigin.End);
                    var last = stream.ReadByte();
                    stream.Seek(0, SeekOrigin.End);
                    if (last != '\n')
                    {
                        stream.WriteByte((byte)'\n');
                    }
                }

                var line = new byte[record.Length + 1];
                record.Span.CopyTo(line);
                line[^1] = (byte)'\n';
                stream.Write(line);
                stream.Flush(flushToDisk: true);
            }
            catch (IOException)
            {
                // A full disk takes part of a line and refuses the rest: the part is taken back, so the log ends
                // where it did rather than on a torn line that the next append would have to step over.
                TakeBack(stream, before);
                throw;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unusable(path, e);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> ReadAsync(string scopeKey, StateLog log, CancellationToken cancellationToken)
    {
        var path = LogPath(ScopeDirectory(scopeKey), log);
        if (!File.Exists(path))
        {
            return Task.FromResult<IReadOnlyList<string>>([]);
        }

        try
        {
            return Task.FromResult<IReadOnlyList<string>>(File.ReadLines(path, Encoding.UTF8).Where(l => !string.IsNullOrWhiteSpace(l)).ToList());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unusable(path, e);
        }
    }

    /// <inheritdoc />
    public async Task RewriteAsync(string scopeKey, StateLog log, IReadOnlyList<string> expected, IReadOnlyList<ReadOnlyMemory<byte>> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(records);
        var path = LogPath(EnsureScope(scopeKey), log);
        if (!(await ReadAsync(scopeKey, log, cancellationToken)).SequenceEqual(expected, StringComparer.Ordinal))
        {
            throw StateErrors.Raced(path);
        }

        var content = new MemoryStream();
        foreach (var record in records)
        {
            content.Write(record.Span);
            content.WriteByte((byte)'\n');
        }

        try
        {
            // Temp file, flushed, renamed over: a crash leaves the old log or the new one, never half of each.
            AtomicFile.WriteAllBytes(path, content.GetBuffer().AsSpan(0, (int)content.Length));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unusable(path, e);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> ScopesAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>>(!Directory.Exists(_root) ? [] : Directory.EnumerateDirectories(_root)
            .Where(d => File.Exists(Path.Combine(d, "journal.jsonl")) || File.Exists(Path.Combine(d, "ledger.jsonl")))
            .Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList());

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private static string LogPath(string directory, StateLog log) => Path.Combine(directory, log == StateLog.Journal ? "journal.jsonl" : "ledger.jsonl");

    private string EnsureScope(string scopeKey)
    {
        var directory = ScopeDirectory(scopeKey);
        try
        {
            PrivateFiles.CreateDirectory(StateDirectory);
            PrivateFiles.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unusable(directory, e);
        }

        return directory;
    }

    private static ImmutableBuildException Unusable(string path, Exception inner) =>
        DiskFull.Is(inner)
            ? DiskFull.Error(path, inner)
            : new(StateErrors.StateDirectoryUnusable, $"The rollout state at {path} cannot be used: {inner.Message} Check ImmutableStateDir / IMMUTABLE_STATE_DIR and its permissions.", inner);

    private static void TakeBack(FileStream stream, long length)
    {
        try
        {
            stream.SetLength(length);
            stream.Flush(flushToDisk: true);
        }
        catch (IOException)
        {
            // Shortening frees space and should not fail; if it does, the reader drops the torn tail (IMB6209).
        }
    }

    private static LockHolder? ReadHolder(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), StateJsonContext.Default.LockHolder);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // The holder note is informational; the OS lock is what counts.
        }
    }

    private sealed class Lease(FileLock held, string holderPath, LockHolder holder) : IStateLease
    {
        public LockHolder Holder => holder;

        public LockHolder? TookOverFrom => null;

        public ValueTask DisposeAsync()
        {
            TryDelete(holderPath);
            held.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
