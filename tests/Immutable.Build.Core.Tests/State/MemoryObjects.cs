using System.Collections.Concurrent;
using Immutable.Build.State;

namespace Immutable.Build.Core.Tests.State;

/// <summary>
/// Conditional objects in memory, with S3's rules (create only if absent, replace only at the version read), for the
/// lease and retry logic on a fake clock. The real backends are tested against moto and the Docker engine.
/// </summary>
internal sealed class MemoryObjects : IConditionalObjects
{
    private readonly ConcurrentDictionary<string, VersionedObject> _objects = new(StringComparer.Ordinal);
    private int _versions;

    public string Location => "memory://test";

    public int Conflicts;

    /// <summary>A real pause after each read, for the race tests: a bare yield on two busy cores may let each writer run its read and write unbroken.</summary>
    public TimeSpan ReadLatency { get; set; }

    public async Task<VersionedObject?> ReadAsync(string key, CancellationToken cancellationToken)
    {
        var found = _objects.TryGetValue(key, out var value) ? value with { Content = [.. value.Content] } : null;
        // A network store answers later than it reads: other writers get between this read and the caller's write.
        await Task.Yield();
        if (ReadLatency > TimeSpan.Zero)
        {
            await Task.Delay(ReadLatency, CancellationToken.None);
        }

        return found;
    }

    public Task<string?> TryWriteAsync(string key, ReadOnlyMemory<byte> content, string? expectedVersion, CancellationToken cancellationToken)
    {
        var next = new VersionedObject(content.ToArray(), "v" + Interlocked.Increment(ref _versions));
        bool written;
        if (expectedVersion is null)
        {
            written = _objects.TryAdd(key, next);
        }
        else
        {
            written = _objects.TryGetValue(key, out var current) && current.Version == expectedVersion && _objects.TryUpdate(key, next, current);
        }

        if (!written)
        {
            Interlocked.Increment(ref Conflicts);
        }

        return Task.FromResult(written ? next.Version : null);
    }

    public Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>>(_objects.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList());

    public void Dispose()
    {
    }
}
