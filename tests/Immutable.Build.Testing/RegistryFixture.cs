namespace Immutable.Build.Testing;

/// <summary>A real OCI registry (Debian's docker-registry) on a loopback port, plain http, no auth.</summary>
public sealed class RegistryFixture : InfraFixture
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>host:port of the registry.</summary>
    public string Address { get; private set; } = "";

    /// <summary>The registry's storage folder: what it really holds, independent of its API.</summary>
    public static string StorageDir => Path.Combine(TestEnvironment.InfraDir, "registry", "storage");

    /// <summary>Every blob the registry stores (layers, configs and manifests), read from its storage.</summary>
    public static HashSet<string> StoredBlobs()
    {
        var root = Path.Combine(StorageDir, "docker", "registry", "v2", "blobs", "sha256");
        return Directory.Exists(root)
            ? Directory.EnumerateDirectories(root).SelectMany(Directory.EnumerateDirectories).Where(d => File.Exists(Path.Combine(d, "data"))).Select(d => "sha256:" + Path.GetFileName(d)).ToHashSet()
            : [];
    }

    /// <summary>
    /// The blobs (layers, configs, mounted ones) and manifests <paramref name="repository"/> links to, read from the
    /// registry's storage. Scoped to one repository, so it says what a publish wrote there even while other tests push
    /// to the same registry at the same time (the global store, <see cref="StoredBlobs"/>, changes under them).
    /// </summary>
    public static HashSet<string> RepositoryBlobs(string repository)
    {
        var root = Path.Combine(StorageDir, "docker", "registry", "v2", "repositories", repository);
        return new[] { Path.Combine(root, "_layers", "sha256"), Path.Combine(root, "_manifests", "revisions", "sha256") }
            .Where(Directory.Exists)
            .SelectMany(Directory.EnumerateDirectories)
            .Where(d => File.Exists(Path.Combine(d, "link")))
            .Select(d => "sha256:" + Path.GetFileName(d))
            .ToHashSet();
    }

    /// <summary>The digest a tag points at, from the registry's HTTP API; null when the tag is absent.</summary>
    public async Task<string?> TagDigestAsync(string repository, string tag)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, new Uri($"http://{Address}/v2/{repository}/manifests/{tag}"));
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        using var response = await Http.SendAsync(request);
        return response.IsSuccessStatusCode ? response.Headers.GetValues("Docker-Content-Digest").Single() : null;
    }

    /// <summary>The manifest JSON of a tag or digest.</summary>
    public async Task<System.Text.Json.JsonDocument> ManifestAsync(string repository, string reference)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://{Address}/v2/{repository}/manifests/{reference}"));
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        using var response = await Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>The tags of a repository.</summary>
    public async Task<IReadOnlyList<string>> TagsAsync(string repository)
    {
        using var response = await Http.GetAsync(new Uri($"http://{Address}/v2/{repository}/tags/list"));
        if (!response.IsSuccessStatusCode)
        {
            return [];
        }

        using var doc = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.TryGetProperty("tags", out var tags) && tags.ValueKind == System.Text.Json.JsonValueKind.Array
            ? tags.EnumerateArray().Select(t => t.GetString()!).OrderBy(t => t, StringComparer.Ordinal).ToList()
            : [];
    }

    /// <inheritdoc />
    protected override string Name => "the OCI registry";

    /// <inheritdoc />
    protected override async Task StartAsync()
    {
        WasRunning = await IsUpAsync(ReadAddress());
        await RunScriptAsync("registry.sh", "start");
        Address = ReadAddress() ?? throw new InvalidOperationException("registry.sh start wrote no address");
    }

    /// <inheritdoc />
    protected override Task StopAsync() => RunScriptAsync("registry.sh", "stop");

    private static string? ReadAddress()
    {
        var file = Path.Combine(TestEnvironment.InfraDir, "run", "registry.addr");
        return File.Exists(file) ? File.ReadAllText(file).Trim() : null;
    }

    private static async Task<bool> IsUpAsync(string? address)
    {
        if (address is null)
        {
            return false;
        }

        try
        {
            using var response = await Http.GetAsync(new Uri($"http://{address}/v2/"));
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }
}

/// <summary>
/// Offline base images pushed into the registry: a busybox base for images that never run and a
/// Debian minbase + this machine's .NET runtime / ASP.NET Core base for images that must run.
/// Built once and cached (keyed by the runtime version); pushed on every start.
/// </summary>
public sealed class BaseImagesFixture : InfraFixture
{
    private readonly RegistryFixture _registry = new();

    /// <summary>The registry the bases were pushed to.</summary>
    public RegistryFixture Registry => _registry;

    /// <summary>registry/base/busybox:1</summary>
    public string Busybox { get; private set; } = "";

    /// <summary>registry/base/dotnet:runtime-VERSION</summary>
    public string Runtime { get; private set; } = "";

    /// <summary>registry/base/dotnet:aspnet-VERSION</summary>
    public string AspNet { get; private set; } = "";

    /// <inheritdoc />
    protected override string Name => "the base images";

    /// <inheritdoc />
    protected override async Task StartAsync()
    {
        await _registry.InitializeAsync();
        _registry.Require();
        await RunScriptAsync("base-images.sh", "all");
        var env = ParseEnv(await File.ReadAllTextAsync(Path.Combine(TestEnvironment.InfraDir, "run", "bases.env")));
        Busybox = env["IMMUTABLE_TEST_BASE_BUSYBOX"];
        Runtime = env["IMMUTABLE_TEST_BASE_RUNTIME"];
        AspNet = env["IMMUTABLE_TEST_BASE_ASPNET"];
    }

    /// <summary>Stops the registry when this fixture started it; the pushed bases stay cached.</summary>
    protected override async Task StopAsync() => await _registry.DisposeAsync();
}
