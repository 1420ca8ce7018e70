namespace Immutable.Build.Testing;

/// <summary>
/// moto's server (tests/infra/moto.sh) on loopback: the EC2, SSM and ELBv2 APIs the EC2 target calls. It runs no
/// software on its instances and hands out private-range addresses that tests must never connect to. Each test
/// calls <see cref="ResetAsync"/> first, since moto keeps every resource until reset; a reset is global, so every
/// test class that uses moto joins the <see cref="MotoCollection"/> and they run one at a time.
/// </summary>
public sealed class MotoFixture : InfraFixture
{
    /// <summary>The region every test uses.</summary>
    public const string Region = "us-east-1";

    /// <summary>http://127.0.0.1:port of moto.</summary>
    public Uri Url { get; private set; } = new("http://127.0.0.1:1/");

    /// <summary>Fake credentials moto accepts (it checks no signature); the tests also prove they are never logged.</summary>
    public IReadOnlyDictionary<string, string?> Credentials { get; } = new Dictionary<string, string?>
    {
        ["AWS_ACCESS_KEY_ID"] = "AKIAIMMUTABLETEST000",
        ["AWS_SECRET_ACCESS_KEY"] = "moto-secret-key-never-logged-9f3b",
        ["AWS_SESSION_TOKEN"] = null,
        ["AWS_REGION"] = Region,
    };

    /// <inheritdoc />
    protected override string Name => "moto (AWS emulator)";

    /// <inheritdoc />
    protected override async Task StartAsync()
    {
        WasRunning = File.Exists(Path.Combine(TestEnvironment.InfraDir, "run", "moto.url"));
        var url = (await RunScriptAsync("moto.sh", "start")).Trim().Split('\n')[^1].Trim();
        if (!Uri.TryCreate(url, UriKind.Absolute, out var parsed) || !parsed.IsLoopback)
        {
            throw new InvalidOperationException($"moto.sh printed '{url}', not a loopback URL");
        }

        Url = parsed;
    }

    /// <inheritdoc />
    protected override Task StopAsync() => RunScriptAsync("moto.sh", "stop");

    /// <summary>Forgets every resource moto holds.</summary>
    public async Task ResetAsync()
    {
        Require();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var response = await http.PostAsync(new Uri(Url, "/moto-api/reset"), null);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Looks up an environment variable with the fixture's credentials laid over the process's.</summary>
    public string? Environment(string name) => Credentials.TryGetValue(name, out var v) ? v : System.Environment.GetEnvironmentVariable(name);
}

