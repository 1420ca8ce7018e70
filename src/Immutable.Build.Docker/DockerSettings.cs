using Immutable.Build.Targets;

namespace Immutable.Build.Docker;

/// <summary>The ImmutableDocker* settings: their property names and how the CLI offers them.</summary>
public static class DockerSettings
{
    /// <summary>Engine endpoints separated by ';'.</summary>
    public const string Hosts = "ImmutableDockerHosts";

    /// <summary>A folder with ca.pem, cert.pem and key.pem.</summary>
    public const string TlsCertPath = "ImmutableDockerTlsCertPath";

    /// <summary>Hosts launched at once.</summary>
    public const string HostBatch = "ImmutableDockerHostBatch";

    /// <summary>The stable proxy port on each host.</summary>
    public const string ProxyPort = "ImmutableDockerProxyPort";

    /// <summary>The containers' restart policy.</summary>
    public const string RestartPolicy = "ImmutableDockerRestartPolicy";

    /// <summary>Memory limit per container.</summary>
    public const string Memory = "ImmutableDockerMemory";

    /// <summary>CPU limit per container.</summary>
    public const string Cpus = "ImmutableDockerCpus";

    /// <summary>Between SIGTERM and SIGKILL.</summary>
    public const string StopGrace = "ImmutableDockerStopGrace";

    /// <summary>Every setting, in the order the CLI lists them.</summary>
    public static IReadOnlyList<TargetSetting> All { get; } =
    [
        new(Hosts, "--docker-hosts", "Docker target: engine endpoints separated by ';' (unix:///var/run/docker.sock, tcp://host:2376). Default: $DOCKER_HOST, else the local socket."),
        new(TlsCertPath, "--docker-tls-cert-path", "Docker target: a folder with ca.pem, cert.pem and key.pem for tcp endpoints. Default: $DOCKER_CERT_PATH when $DOCKER_TLS_VERIFY is set."),
        new(ProxyPort, "--docker-proxy-port", "Docker target: the app's stable port on each host. Default: 8080."),
        new(HostBatch, "--docker-host-batch", "Docker target: hosts launched at once: 1 (host by host, default), N, or all."),
        new(RestartPolicy, "--docker-restart-policy", "Docker target: no, on-failure[:N], unless-stopped (default) or always."),
        new(Memory, "--docker-memory", "Docker target: memory limit per container, e.g. 512m."),
        new(Cpus, "--docker-cpus", "Docker target: CPU limit per container, e.g. 1.5."),
        new(StopGrace, "--docker-stop-grace", "Docker target: between SIGTERM and SIGKILL when a container stops. Default: 10s."),
    ];
}
