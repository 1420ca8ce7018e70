namespace Immutable.Build.Testing;

/// <summary>
/// A real Docker engine (Debian's docker.io) started by hand: its own data root, exec root and
/// unix socket; no bridge, iptables and ip-forward off, so containers use --network host or none.
/// </summary>
public class DockerEngineFixture : InfraFixture
{
    private readonly string _instance;

    /// <summary>The default engine, instance "a".</summary>
    public DockerEngineFixture()
        : this("a")
    {
    }

    /// <summary>A named engine, so two can run as two hosts.</summary>
    protected DockerEngineFixture(string instance) => _instance = instance;

    /// <summary>unix:///.../docker.sock</summary>
    public string DockerHost { get; private set; } = "";

    /// <summary>The engine's socket path.</summary>
    public string SocketPath => DockerHost["unix://".Length..];

    /// <inheritdoc />
    protected override string Name => $"the Docker engine '{_instance}'";

    /// <inheritdoc />
    protected override async Task StartAsync()
    {
        var socket = Path.Combine(TestEnvironment.InfraDir, $"docker-{_instance}", "docker.sock");
        WasRunning = File.Exists(socket) && await PingAsync("unix://" + socket);
        await RunScriptAsync("dockerd.sh", "start", _instance);
        DockerHost = ParseEnv(await RunScriptAsync("dockerd.sh", "env", _instance))["DOCKER_HOST"];
    }

    /// <inheritdoc />
    protected override Task StopAsync() => RunScriptAsync("dockerd.sh", "stop", _instance);

    private static async Task<bool> PingAsync(string host)
    {
        var result = await ProcessRunner.RunAsync("curl", ["-sf", "--max-time", "3", "--unix-socket", host["unix://".Length..], "http://d/_ping"], timeout: TimeSpan.FromSeconds(10));
        return result.ExitCode == 0;
    }
}

/// <summary>A second engine, standing for a second host.</summary>
public sealed class SecondDockerEngineFixture : DockerEngineFixture
{
    /// <summary>Instance "b".</summary>
    public SecondDockerEngineFixture()
        : base("b")
    {
    }
}
