namespace Immutable.Build.Targets;

/// <summary>What a provider gets to make a target: the target's own settings as given, and where it runs.</summary>
public sealed record TargetContext
{
    /// <summary>The target's settings by MSBuild property name (case-insensitive), as strings: the provider parses them.</summary>
    public required IReadOnlyDictionary<string, string> Settings { get; init; }

    /// <summary>The state directory of the deployment (journal, ledger; the target may keep files below it).</summary>
    public required string StateDirectory { get; init; }

    /// <summary>Immutable.Build.LocalHost.dll as shipped beside the adapter: the local target's host and the Docker target's proxy.</summary>
    public required string HostAssembly { get; init; }

    /// <summary>Environment lookup (DOCKER_HOST, credentials); injectable so tests do not touch the process environment.</summary>
    public Func<string, string?> GetEnvironmentVariable { get; init; } = System.Environment.GetEnvironmentVariable;

    /// <summary>The deployment's log.</summary>
    public ReleaseLog Log { get; init; } = ReleaseLog.None;

    /// <summary>The clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The value of a setting, or null when it is not given (missing, empty or blanks).</summary>
    public string? Setting(string property) =>
        Settings.TryGetValue(property, out var value) && !string.IsNullOrWhiteSpace(value) ? value : null;
}
