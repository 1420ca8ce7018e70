namespace Immutable.Build.Registry;

/// <summary>How a <see cref="RegistryClient"/> talks to its registry. The defaults suit a real push.</summary>
public sealed record RegistryClientOptions
{
    /// <summary>16 MiB: blobs above this are sent in chunks.</summary>
    public const long DefaultChunkedUploadThreshold = 16L * 1024 * 1024;

    /// <summary>Explicit credentials; when set, <see cref="Credentials"/> is not asked.</summary>
    public RegistryCredential? Credential { get; init; }

    /// <summary>Where credentials come from when <see cref="Credential"/> is null; null means the process environment and Docker's config.</summary>
    public RegistryCredentials? Credentials { get; init; }

    /// <summary>Reads an environment variable (DOTNET_CONTAINER_INSECURE_REGISTRIES); null reads the process environment.</summary>
    public Func<string, string?>? GetEnvironmentVariable { get; init; }

    /// <summary>Blobs larger than this many bytes are uploaded with PATCH chunks instead of one PUT.</summary>
    public long ChunkedUploadThreshold { get; init; } = DefaultChunkedUploadThreshold;

    /// <summary>Bytes per PATCH of a chunked upload (raised to the registry's OCI-Chunk-Min-Length when it announces one).</summary>
    public int ChunkSize { get; init; } = 8 * 1024 * 1024;

    /// <summary>Attempts per request, the first included, for 429, 5xx, resets and timeouts.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>Backoff before the second attempt; it doubles per attempt, with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Upper bound of the exponential backoff.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Upper bound for a Retry-After the registry asks for, so a build is never parked for hours.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Time limit of one request, its body included (except a blob stream handed to the caller).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Time limit for opening a connection.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Clock for retry delays and token lifetimes (request timeouts use the real clock).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Receives progress lines (retries, authentication, uploads); never secrets.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Wraps the HTTP handler, so tests can watch the requests that go on the wire.</summary>
    internal Func<HttpMessageHandler, HttpMessageHandler>? WrapHandler { get; init; }

    /// <summary>The attempts and jittered, capped exponential backoff of a request (a registry's Retry-After wins over it).</summary>
    internal RetryPolicy ToRetryPolicy() => new()
    {
        MaxAttempts = MaxAttempts,
        BaseDelay = RetryBaseDelay,
        MaxDelay = RetryMaxDelay,
    };

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ChunkedUploadThreshold, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(ChunkSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAttempts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryBaseDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryMaxDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRetryAfter, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RequestTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero);
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
