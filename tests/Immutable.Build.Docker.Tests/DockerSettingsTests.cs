using Immutable.Build.Deployments;
using Immutable.Build.Targets;

namespace Immutable.Build.Docker.Tests;

/// <summary>How ImmutableDocker* settings are read, and the IMB5xxx errors for values that cannot work.</summary>
public sealed class DockerSettingsTests
{
    private static readonly Func<string, string?> NoEnvironment = _ => null;

    [Fact]
    public void A_host_list_takes_sockets_tcp_endpoints_and_per_host_options()
    {
        var hosts = DockerHostEntry.ParseList("unix:///run/a.sock; tcp://10.0.0.5:2376?proxyPort=80&ports=21000-21009 ;/run/b.sock?listen=127.0.0.1&address=192.168.1.9", 8080, NoEnvironment);

        Assert.Equal(3, hosts.Count);
        Assert.Equal(("unix:///run/a.sock", "127.0.0.1", 8080, "0.0.0.0", 20000, 20999, "127.0.0.1"), (hosts[0].Name, hosts[0].Address, hosts[0].ProxyPort, hosts[0].ProxyListen, hosts[0].FirstPort, hosts[0].LastPort, hosts[0].BindAddress));
        Assert.Equal(("tcp://10.0.0.5:2376", "10.0.0.5", 80, 21000, 21009, "0.0.0.0"), (hosts[1].Name, hosts[1].Address, hosts[1].ProxyPort, hosts[1].FirstPort, hosts[1].LastPort, hosts[1].BindAddress));
        Assert.Equal(("/run/b.sock", "192.168.1.9", "127.0.0.1"), (hosts[2].Name, hosts[2].Address, hosts[2].ProxyListen));
        Assert.Equal("unix:///run/b.sock", hosts[2].Endpoint.Address.ToString());
    }

    [Fact]
    public void Without_a_list_the_hosts_are_DOCKER_HOST_then_the_local_socket()
    {
        Assert.Equal("tcp://h:2375", DockerHostEntry.ParseList(null, 8080, n => n == "DOCKER_HOST" ? "tcp://h:2375" : null).Single().Name);
        Assert.Equal("unix:///var/run/docker.sock", DockerHostEntry.ParseList(" ", 8080, NoEnvironment).Single().Name);
    }

    [Theory]
    [InlineData("http://host:2375", "not a Docker endpoint")]
    [InlineData("unix:///a.sock?port=1", "'port' in the Docker host entry")]
    [InlineData("unix:///a.sock?proxyPort=70000", "not a TCP port")]
    [InlineData("unix:///a.sock?ports=3000", "not a range")]
    [InlineData("unix:///a.sock?ports=3010-3000", "ends before it starts")]
    [InlineData("unix:///a.sock?proxyPort=20005", "lies inside its instance port range")]
    [InlineData("unix:///a.sock?listen=everywhere", "not an IP address")]
    [InlineData("unix:///a.sock;unix:///a.sock", "names unix:///a.sock twice")]
    public void A_bad_host_entry_is_IMB5001_and_says_what_to_write(string hosts, string expected)
    {
        var e = Assert.Throws<ImmutableBuildException>(() => DockerHostEntry.ParseList(hosts, 8080, NoEnvironment));
        Assert.Equal("IMB5001", e.Code);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Settings_become_target_options()
    {
        var options = DockerTargetProvider.Options(Context(new()
        {
            [DockerSettings.Hosts] = "unix:///a.sock",
            [DockerSettings.ProxyPort] = "9090",
            [DockerSettings.HostBatch] = "all",
            [DockerSettings.RestartPolicy] = "on-failure:3",
            [DockerSettings.Memory] = "512m",
            [DockerSettings.Cpus] = "1.5",
            [DockerSettings.StopGrace] = "3s",
        }));

        Assert.Equal(9090, options.Hosts.Single().ProxyPort);
        Assert.Equal(0, options.HostBatch);
        Assert.Equal(global::Docker.DotNet.Models.RestartPolicyKind.OnFailure, options.RestartPolicy.Name);
        Assert.Equal(3, options.RestartPolicy.MaximumRetryCount);
        Assert.Equal(512L << 20, options.MemoryBytes);
        Assert.Equal(1_500_000_000, options.NanoCpus);
        Assert.Equal(TimeSpan.FromSeconds(3), options.StopGrace);
        Assert.Null(options.TlsCertPath);
    }

    [Fact]
    public void TLS_comes_from_DOCKER_CERT_PATH_only_when_DOCKER_TLS_VERIFY_is_set()
    {
        var env = new Dictionary<string, string?> { ["DOCKER_CERT_PATH"] = "/certs" };
        Assert.Null(DockerTargetProvider.Options(Context(new() { [DockerSettings.Hosts] = "tcp://h:2376" }) with { GetEnvironmentVariable = n => env.GetValueOrDefault(n) }).TlsCertPath);
        env["DOCKER_TLS_VERIFY"] = "1";
        Assert.Equal("/certs", DockerTargetProvider.Options(Context(new() { [DockerSettings.Hosts] = "tcp://h:2376" }) with { GetEnvironmentVariable = n => env.GetValueOrDefault(n) }).TlsCertPath);
    }

    [Theory]
    [InlineData("ProxyPort", "0", "ImmutableDockerProxyPort")]
    [InlineData("HostBatch", "some", "ImmutableDockerHostBatch")]
    [InlineData("RestartPolicy", "sometimes", "ImmutableDockerRestartPolicy")]
    [InlineData("Memory", "lots", "ImmutableDockerMemory")]
    [InlineData("Memory", "1k", "ImmutableDockerMemory")]
    [InlineData("Cpus", "-1", "ImmutableDockerCpus")]
    [InlineData("StopGrace", "soon", "ImmutableDockerStopGrace")]
    public void A_bad_setting_is_IMB5002_and_names_the_property(string setting, string value, string property)
    {
        var name = setting switch
        {
            "ProxyPort" => DockerSettings.ProxyPort,
            "HostBatch" => DockerSettings.HostBatch,
            "RestartPolicy" => DockerSettings.RestartPolicy,
            "Memory" => DockerSettings.Memory,
            "StopGrace" => DockerSettings.StopGrace,
            _ => DockerSettings.Cpus,
        };
        var e = Assert.Throws<ImmutableBuildException>(() => DockerTargetProvider.Options(Context(new() { [name] = value, [DockerSettings.Hosts] = "unix:///a.sock" })));
        Assert.Equal("IMB5002", e.Code);
        Assert.Contains(property, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_TLS_folder_without_its_files_is_IMB5002()
    {
        var folder = TestEnvironment.NewWorkDir("tls-empty");
        var e = Assert.Throws<ImmutableBuildException>(() => DockerEndpoint.Parse("tcp://127.0.0.1:2376").CreateClient(folder));
        Assert.Equal("IMB5002", e.Code);
        Assert.Contains("ca.pem", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_deployer_offers_docker_only_when_the_adapter_ships_it()
    {
        var options = new DeploymentOptions { App = "hello", Target = "docker", TargetSettings = new Dictionary<string, string> { [DockerSettings.Hosts] = "unix:///nowhere.sock" }, StateDirectory = TestEnvironment.NewWorkDir("state"), GetEnvironmentVariable = NoEnvironment, TargetProviders = [] };
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => Deployer.StatusAsync(options, false, ReleaseLog.None, CancellationToken.None));
        Assert.Equal("IMB6105", e.Code);
    }

    [Fact]
    public void The_docker_provider_is_found_beside_Core_and_declares_every_setting_it_reads()
    {
        var docker = Assert.Single(TargetProviders.Discovered, p => p.Name == "docker");
        Assert.IsType<DockerTargetProvider>(docker);
        Assert.Equal(
            [DockerSettings.Hosts, DockerSettings.TlsCertPath, DockerSettings.ProxyPort, DockerSettings.HostBatch, DockerSettings.RestartPolicy, DockerSettings.Memory, DockerSettings.Cpus, DockerSettings.StopGrace],
            docker.Settings.Select(s => s.Property));
        Assert.All(docker.Settings, s => Assert.StartsWith("--docker-", s.Option, StringComparison.Ordinal));
    }

    [Fact]
    public void The_package_forwards_exactly_the_settings_the_targets_declare()
    {
        // The package's own targets forward the local target's setting; each shipped target's build file its own.
        var files = new[] { Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.Tasks", "build", "Immutable.Build.targets") }
            .Concat(Directory.EnumerateFiles(Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.Docker", "build"), "*.targets"));
        var forwarded = files.Select(System.Xml.Linq.XDocument.Load).SelectMany(d => d.Descendants()).Where(e => e.Name.LocalName == "_ImmutableTargetSetting")
            .Select(e => ((string?)e.Attribute("Include") ?? "", (string?)e.Attribute("Value") ?? "")).Where(i => i.Item1 != "@(ImmutableTargetSetting)").ToList();

        Assert.Equal(TargetProviders.All().SelectMany(p => p.Settings).Select(s => (s.Property, $"$({s.Property})")).Order().ToList(), forwarded.Order().ToList());
    }

    private static TargetContext Context(Dictionary<string, string> settings) => new()
    {
        Settings = new Dictionary<string, string>(settings, StringComparer.OrdinalIgnoreCase),
        StateDirectory = "/nowhere/state",
        HostAssembly = "/nowhere/Immutable.Build.LocalHost.dll",
        GetEnvironmentVariable = NoEnvironment,
    };
}
