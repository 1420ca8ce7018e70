using System.Globalization;
using Docker.DotNet.Models;
using Immutable.Build.Docker;
using Immutable.Build.Targets;

[assembly: DeploymentTargetProvider(typeof(DockerTargetProvider))]

namespace Immutable.Build.Docker;

/// <summary>ImmutableTarget=docker: reads the <see cref="DockerSettings"/> into <see cref="DockerTargetOptions"/>, with IMB5001/IMB5002 for values it cannot take.</summary>
public sealed class DockerTargetProvider : IDeploymentTargetProvider
{
    /// <summary>The default stable proxy port on each host.</summary>
    public const int DefaultProxyPort = 8080;

    /// <inheritdoc />
    public string Name => "docker";

    /// <inheritdoc />
    public IReadOnlyList<TargetSetting> Settings => DockerSettings.All;

    /// <inheritdoc />
    public IDeploymentTarget Create(TargetContext context) => new DockerTarget(Options(context));

    /// <summary>The target's options from its settings.</summary>
    public static DockerTargetOptions Options(TargetContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var environment = context.GetEnvironmentVariable;
        var proxyPort = ParseProxyPort(context.Setting(DockerSettings.ProxyPort));
        var batch = context.Setting(DockerSettings.HostBatch);
        var cpus = context.Setting(DockerSettings.Cpus);
        var stopGrace = context.Setting(DockerSettings.StopGrace);
        return new DockerTargetOptions
        {
            Hosts = DockerHostEntry.ParseList(context.Setting(DockerSettings.Hosts), proxyPort, environment),
            ProxyAssembly = context.HostAssembly,
            TlsCertPath = TlsCertPath(context.Setting(DockerSettings.TlsCertPath), environment),
            HostBatch = batch is null ? 1
                : batch.Trim().Equals("all", StringComparison.OrdinalIgnoreCase) ? 0
                : int.TryParse(batch.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var b) ? b
                : throw DockerErrors.Setting(DockerSettings.HostBatch, batch, "give how many hosts to launch at once: 1 (host by host), a larger number, or all"),
            RestartPolicy = ParseRestart(context.Setting(DockerSettings.RestartPolicy)),
            MemoryBytes = ParseMemory(context.Setting(DockerSettings.Memory)),
            NanoCpus = cpus is null ? 0
                : double.TryParse(cpus.Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) && n > 0 && n <= 1024 ? (long)(n * 1e9)
                : throw DockerErrors.Setting(DockerSettings.Cpus, cpus, "give a number of CPUs such as 0.5 or 2"),
            StopGrace = stopGrace is null ? TimeSpan.FromSeconds(10)
                : Durations.TryParse(stopGrace, out var grace) ? grace
                : throw DockerErrors.Setting(DockerSettings.StopGrace, stopGrace, "give " + Durations.Expected),
            GetEnvironmentVariable = environment,
            Log = context.Log.Detail,
            Time = context.Time,
        };
    }

    /// <summary>ImmutableDockerProxyPort, or the default; host entries are checked against it, so every reader of ImmutableDockerHosts parses them alike.</summary>
    internal static int ParseProxyPort(string? value) =>
        value is null ? DefaultProxyPort
            : int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536 ? p
            : throw DockerErrors.Setting(DockerSettings.ProxyPort, value, "give a TCP port from 1 to 65535");

    /// <summary>The TLS folder: ImmutableDockerTlsCertPath, else $DOCKER_CERT_PATH when $DOCKER_TLS_VERIFY is set; null for none.</summary>
    internal static string? TlsCertPath(string? setting, Func<string, string?> environment)
    {
        var tls = setting;
        if (tls is null && !string.IsNullOrEmpty(environment("DOCKER_TLS_VERIFY")) && environment("DOCKER_CERT_PATH") is { Length: > 0 } certPath)
        {
            tls = certPath;
        }

        return string.IsNullOrWhiteSpace(tls) ? null : Path.GetFullPath(tls);
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
            _ => throw DockerErrors.Setting(DockerSettings.RestartPolicy, value, "use no, on-failure, on-failure:N, unless-stopped or always"),
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
            : throw DockerErrors.Setting(DockerSettings.Memory, value, "give a size of at least 6m, such as 512m or 1g");
    }
}
