using Immutable.Build.Registry;

namespace Immutable.Build.Targets.Local;

/// <summary>Settings of the local target.</summary>
/// <param name="StateDirectory">Where the local host keeps host.json, its state, logs and unpacked releases (see <see cref="DefaultStateDirectory"/>).</param>
/// <param name="HostAssemblyPath">Immutable.Build.LocalHost.dll, started with <c>dotnet</c> when no host answers.</param>
/// <param name="ProxyPort">
/// The stable port of the app and environment's proxy on 127.0.0.1 (ImmutableLocalPort). Each app and environment
/// has its own proxy listener; 0 picks a free port the first time and keeps it for the scope.
/// </param>
public sealed record LocalTargetOptions(string StateDirectory, string HostAssemblyPath, int ProxyPort = LocalTargetOptions.DefaultProxyPort)
{
    /// <summary>The proxy port when none is given.</summary>
    public const int DefaultProxyPort = 5080;

    /// <summary>The dotnet executable for the host and for the instances; default: DOTNET_HOST_PATH, this process when it is dotnet, else PATH.</summary>
    public string? DotnetPath { get; init; }

    /// <summary>How long a starting host may take to answer.</summary>
    public TimeSpan HostStartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Between SIGTERM and SIGKILL when instances are stopped.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Registry settings for releases whose image source is a registry.</summary>
    public RegistryClientOptions? RegistryOptions { get; init; }

    /// <summary>The clock of every wait of the target and of the host start (tests give a fake one).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Receives one line per action that changes the machine (host started, release unpacked, ...).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>
    /// <c>$IMMUTABLE_STATE_DIR</c>, else <c>$XDG_STATE_HOME/immutable-build</c>, else <c>~/.local/state/immutable-build</c>.
    /// </summary>
    public static string DefaultStateDirectory(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        if (environment("IMMUTABLE_STATE_DIR") is { Length: > 0 } explicitDir)
        {
            return Path.GetFullPath(explicitDir);
        }

        if (environment("XDG_STATE_HOME") is { Length: > 0 } xdg)
        {
            return Path.Combine(Path.GetFullPath(xdg), "immutable-build");
        }

        var home = environment("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".local", "state", "immutable-build");
    }
}
