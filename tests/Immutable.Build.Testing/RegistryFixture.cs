namespace Immutable.Build.Testing;

/// <summary>A real OCI registry (Debian's docker-registry) on a loopback port, plain http, no auth.</summary>
public sealed class RegistryFixture : InfraFixture
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>host:port of the registry.</summary>
    public string Address { get; private set; } = "";

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
