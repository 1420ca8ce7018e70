using System.Globalization;
using Docker.DotNet.Models;
using Immutable.Build.Deployments;
using Immutable.Build.Releases;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;

namespace Immutable.Build.Docker;

/// <summary>ImmutableTarget=docker: reads <see cref="DeploymentSettings.Docker"/> into <see cref="DockerTargetOptions"/>, with IMB5002 for values it cannot take.</summary>
public sealed class DockerTargetProvider : IDeploymentTargetProvider
{
    /// <summary>The default stable proxy port on each host.</summary>
    public const int DefaultProxyPort = 8080;

    /// <inheritdoc />
    public string Name => "docker";

    /// <inheritdoc />
    public IDeploymentTarget Create(DeploymentSettings settings, string stateDirectory, ReleaseLog log)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        return new DockerTarget(Options(settings, log));
    }

    /// <summary>The target's options from the settings.</summary>
    public static DockerTargetOptions Options(DeploymentSettings settings, ReleaseLog log)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        var docker = settings.Docker;
        var environment = settings.GetEnvironmentVariable ?? System.Environment.GetEnvironmentVariable;
        var proxyPort = string.IsNullOrWhiteSpace(docker.ProxyPort) ? DefaultProxyPort
            : int.TryParse(docker.ProxyPort.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536 ? p
            : throw DockerErrors.Setting("ImmutableDockerProxyPort", docker.ProxyPort, "give a TCP port from 1 to 65535");
        var tls = docker.TlsCertPath;
        if (string.IsNullOrWhiteSpace(tls) && !string.IsNullOrEmpty(environment("DOCKER_TLS_VERIFY")) && environment("DOCKER_CERT_PATH") is { Length: > 0 } certPath)
        {
            tls = certPath;
        }

        return new DockerTargetOptions
        {
            Hosts = DockerHostEntry.ParseList(docker.Hosts, proxyPort, environment),
            ProxyAssembly = Deployer.HostAssembly(settings),
            TlsCertPath = string.IsNullOrWhiteSpace(tls) ? null : Path.GetFullPath(tls),
            HostBatch = string.IsNullOrWhiteSpace(docker.HostBatch) ? 1
                : docker.HostBatch.Trim().Equals("all", StringComparison.OrdinalIgnoreCase) ? 0
                : int.TryParse(docker.HostBatch.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var b) ? b
                : throw DockerErrors.Setting("ImmutableDockerHostBatch", docker.HostBatch, "give how many hosts to launch at once: 1 (host by host), a larger number, or all"),
            RestartPolicy = ParseRestart(docker.RestartPolicy),
            MemoryBytes = ParseMemory(docker.Memory),
            NanoCpus = string.IsNullOrWhiteSpace(docker.Cpus) ? 0
                : double.TryParse(docker.Cpus.Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var cpus) && cpus > 0 && cpus <= 1024 ? (long)(cpus * 1e9)
                : throw DockerErrors.Setting("ImmutableDockerCpus", docker.Cpus, "give a number of CPUs such as 0.5 or 2"),
            StopGrace = RolloutSettings.ParseDuration("ImmutableDockerStopGrace", docker.StopGrace, TimeSpan.FromSeconds(10)),
            GetEnvironmentVariable = environment,
            Log = log.Detail,
        };
    }

    private static RestartPolicy ParseRestart(string? value)
    {
        var text = string.IsNullOrWhiteSpace(value) ? "unless-stopped" : value.Trim().ToLowerInvariant();
        var parts = text.Split(':', 2);
        return parts[0] switch
        {
            "no" when parts.Length == 1 => new RestartPolicy { Name = RestartPolicyKind.No },
            "always" when parts.Length == 1 => new RestartPolicy { Name = RestartPolicyKind.Always },
            "unless-stopped" when parts.Length == 1 => new RestartPolicy { Name = RestartPolicyKind.UnlessStopped },
            "on-failure" when parts.Length == 1 => new RestartPolicy { Name = RestartPolicyKind.OnFailure },
            "on-failure" when long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) => new RestartPolicy { Name = RestartPolicyKind.OnFailure, MaximumRetryCount = n },
            _ => throw DockerErrors.Setting("ImmutableDockerRestartPolicy", value, "use no, on-failure, on-failure:N, unless-stopped or always"),
        };
    }

    private static long ParseMemory(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return 0;
        }

        var text = value.Trim().ToLowerInvariant().TrimEnd('b');
        var unit = text.Length > 0 && char.IsAsciiLetter(text[^1]) ? text[^1] : ' ';
        var number = unit == ' ' ? text : text[..^1];
        long multiplier = unit switch { ' ' => 1, 'k' => 1L << 10, 'm' => 1L << 20, 'g' => 1L << 30, _ => -1 };
        return multiplier > 0 && double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) && n * multiplier >= 6L << 20
            ? (long)(n * multiplier)
            : throw DockerErrors.Setting("ImmutableDockerMemory", value, "give a size of at least 6m, such as 512m or 1g");
    }
}
