using Docker.DotNet.Models;

namespace Immutable.Build.Docker;

/// <summary>Settings of the Docker target, parsed and checked (see <see cref="DockerTargetProvider"/> for where they come from).</summary>
public sealed record DockerTargetOptions
{
    /// <summary>The hosts, in rollout order.</summary>
    public required IReadOnlyList<DockerHostEntry> Hosts { get; init; }

    /// <summary>The proxy's assembly (Immutable.Build.LocalHost.dll); its folder is copied into the proxy image.</summary>
    public required string ProxyAssembly { get; init; }

    /// <summary>ca.pem, cert.pem and key.pem for tcp endpoints; null: no TLS.</summary>
    public string? TlsCertPath { get; init; }

    /// <summary>Hosts launched at once: 1 is host by host, 0 or more than the hosts is all at once.</summary>
    public int HostBatch { get; init; } = 1;

    /// <summary>The containers' restart policy.</summary>
    public RestartPolicy RestartPolicy { get; init; } = new() { Name = RestartPolicyKind.UnlessStopped };

    /// <summary>Memory limit per container in bytes; 0 is none.</summary>
    public long MemoryBytes { get; init; }

    /// <summary>CPU limit per container in billionths of a CPU; 0 is none.</summary>
    public long NanoCpus { get; init; }

    /// <summary>Between SIGTERM and SIGKILL when a container stops.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a new container may take to run (and pass its image's HEALTHCHECK) on its host.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Waits before each new attempt when a host does not answer a switch, decommission or prune.</summary>
    public IReadOnlyList<TimeSpan> HostRetries { get; init; } = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)];

    /// <summary>The clock of every wait and retry on the hosts (start, proxy start, route switch, host retries); tests give a fake one.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Environment lookup for registry credentials.</summary>
    public Func<string, string?> GetEnvironmentVariable { get; init; } = System.Environment.GetEnvironmentVariable;

    /// <summary>One line per action that changes a host (the audit trail).</summary>
    public Action<string> Log { get; init; } = _ => { };
}
