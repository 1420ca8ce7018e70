namespace Immutable.Build.State;

/// <summary>
/// The one primitive a shared state store needs from its backend: small objects read with a version and written
/// only if that version still holds (S3's If-Match on the ETag, If-None-Match: * to create). The lock, its expiry
/// and the race-free appends are built once on top of it (<see cref="ConditionalStateStore"/>), so a backend is only
/// this.
/// </summary>
public interface IConditionalObjects : IDisposable
{
    /// <summary>Where the objects live, e.g. <c>s3://bucket/prefix</c>.</summary>
    string Location { get; }

    /// <summary>The object and its current version; null when there is none.</summary>
    Task<VersionedObject?> ReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Writes the object only if its version is still <paramref name="expectedVersion"/> (null: only if it does not
    /// exist). Returns the object's new version, or null when another writer got there first (the caller reads
    /// again and retries).
    /// </summary>
    Task<string?> TryWriteAsync(string key, ReadOnlyMemory<byte> content, string? expectedVersion, CancellationToken cancellationToken);

    /// <summary>Keys below <paramref name="prefix"/> (relative to the store), for listing scopes.</summary>
    Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken);
}

/// <summary>An object's bytes and the version a conditional write must name.</summary>
public sealed record VersionedObject(byte[] Content, string Version);
