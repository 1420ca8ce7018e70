using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Xml.Linq;

namespace Immutable.Build.Cli.Tests;

/// <summary>
/// The first hour with an ordinary app: samples/PlainApi (Central Package Management, package source
/// mapping, a project reference, <c>ContainerImageTag=latest</c>, its health endpoint at /health and no
/// /healthz or /version) goes from <c>git init</c> to a deploy, a second deploy and a rollback through
/// the packed package and the packed CLI tool, with nothing set but what such an app needs.
/// </summary>
public sealed class PlainApiAdoptionTests : IAsyncLifetime
{
    // Only to keep this test apart from others: the state directory and the proxy port. Neither is a
    // setting of the app. There is no environment variable of Immutable.Build for the port, so the port is
    // given as MSBuild reads every environment variable: as the default of the property of that name.
    private readonly string _state = TestEnvironment.NewWorkDir("plainapi-state");
    private readonly int _port = FreePortIn(5580, 5599);
    private readonly string _root = TestEnvironment.NewWorkDir("plainapi");
    private readonly string _tools = TestEnvironment.NewWorkDir("plainapi-tools");

    private string ProjectDir => Path.Combine(_root, "src", "PlainApi");

    private string Immutable => Path.Combine(_tools, "immutable");

    private Dictionary<string, string?> Isolation => new()
    {
        ["IMMUTABLE_STATE_DIR"] = _state,
        ["ImmutableLocalPort"] = _port.ToString(CultureInfo.InvariantCulture),
        // the packed version is extracted once per pack, never shadowed by an older extraction of the same version
        ["NUGET_PACKAGES"] = SampleWorkspace.PackagesFolder,
    };

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        var cli = File.Exists(Immutable) ? Immutable : "dotnet";
        string[] args = File.Exists(Immutable) ? ["local", "stop"] : [Path.Combine(AppContext.BaseDirectory, "immutable.dll"), "local", "stop"];
        await ProcessRunner.RunAsync(cli, args, _root, Isolation, TimeSpan.FromMinutes(1));
    }

    [Fact(Timeout = 15 * 60 * 1000)]
    public async Task An_ordinary_app_deploys_twice_and_rolls_back_with_only_scratch_and_its_health_path()
    {
        await CopySampleAsync();
        await GitAsync("init", "-q", "-b", "main");
        await CommitAllAsync("first release");
        (await ProcessRunner.RunAsync("dotnet", ["tool", "install", "Immutable.Build.Cli", "--tool-path", _tools, "--version", TestEnvironment.PackageVersion, "--add-source", TestEnvironment.PackagesDir], _tools, Isolation, TimeSpan.FromMinutes(5)))
            .EnsureSuccess("dotnet tool install Immutable.Build.Cli");

        var first = await DeployAsync();
        Assert.True(first.ExitCode == 0, "first deploy:\n" + first.Output);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var proxy = new Uri($"http://127.0.0.1:{_port}/");
        Assert.Equal("PlainApi v1", await http.GetStringAsync(proxy, TestContext.Current.CancellationToken));

        var welcome = Path.Combine(_root, "src", "PlainApi.Domain", "Welcome.cs");
        await File.WriteAllTextAsync(welcome, (await File.ReadAllTextAsync(welcome, TestContext.Current.CancellationToken)).Replace("PlainApi v1", "PlainApi v2", StringComparison.Ordinal), TestContext.Current.CancellationToken);
        await CommitAllAsync("second release");
        var second = await DeployAsync();
        Assert.True(second.ExitCode == 0, "second deploy:\n" + second.Output);
        Assert.Equal("PlainApi v2", await http.GetStringAsync(proxy, TestContext.Current.CancellationToken));

        var rollback = await ProcessRunner.RunAsync(Immutable, ["rollback"], ProjectDir, Isolation, TimeSpan.FromMinutes(5));
        Assert.True(rollback.ExitCode == 0, "immutable rollback:\n" + rollback.Output);
        Assert.Equal("PlainApi v1", await http.GetStringAsync(proxy, TestContext.Current.CancellationToken));
    }

    private Task<ProcessResult> DeployAsync() =>
        ProcessRunner.RunAsync("dotnet", ["publish", "-c", "Release", "-p:ContainerBaseImage=scratch", "-p:ImmutableHealthPath=/health", "-p:ImmutableTarget=local"], ProjectDir, Isolation, TimeSpan.FromMinutes(8));

    // The sample as it is, but for its local feed, which is this run's fresh pack (and its own packages folder).
    private async Task CopySampleAsync()
    {
        CopyDirectory(Path.Combine(TestEnvironment.RepoRoot, "samples", "PlainApi"), _root);
        var config = Path.Combine(_root, "NuGet.config");
        var xml = XDocument.Load(config);
        var feed = xml.Root!.Element("packageSources")!.Elements("add").Single(e => (string?)e.Attribute("key") == "immutable-local");
        feed.SetAttributeValue("value", TestEnvironment.PackagesDir);
        xml.Root.AddFirst(new XElement("config", new XElement("add", new XAttribute("key", "globalPackagesFolder"), new XAttribute("value", SampleWorkspace.PackagesFolder))));
        await File.WriteAllTextAsync(config, xml.ToString());
    }

    private async Task GitAsync(params string[] arguments)
    {
        var result = await ProcessRunner.RunAsync("git", ["-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false", .. arguments], _root, timeout: TimeSpan.FromMinutes(1));
        result.EnsureSuccess("git " + string.Join(' ', arguments));
    }

    private async Task CommitAllAsync(string message)
    {
        await GitAsync("add", "-A");
        await GitAsync("commit", "-q", "-m", message);
    }

    private static int FreePortIn(int from, int to)
    {
        for (var port = from; port <= to; port++)
        {
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException($"No free port in {from}-{to} on 127.0.0.1.");
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var dir in Directory.EnumerateDirectories(from).Where(d => Path.GetFileName(d) is not ("bin" or "obj")))
        {
            CopyDirectory(dir, Path.Combine(to, Path.GetFileName(dir)));
        }
    }
}
