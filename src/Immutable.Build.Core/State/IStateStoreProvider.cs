using Immutable.Build.Targets;

namespace Immutable.Build.State;

/// <summary>
/// Opens a shared state store for one URL scheme (s3, docker). A backend that lives beside a target's assembly names
/// its provider with <see cref="StateStoreProviderAttribute"/>, so Core finds it as it finds targets and never
/// references a backend's SDK.
/// </summary>
public interface IStateStoreProvider
{
    /// <summary>The URL scheme it answers to, e.g. <c>s3</c>.</summary>
    string Scheme { get; }

    /// <summary>The settings it reads besides the URL (region, endpoint), so the adapters forward them.</summary>
    IReadOnlyList<TargetSetting> Settings { get; }

    /// <summary>Opens the store of <paramref name="url"/>; IMB6203 for a URL it cannot use.</summary>
    IStateStore Open(Uri url, StateContext context);
}

/// <summary>Names an assembly's <see cref="IStateStoreProvider"/>.</summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class StateStoreProviderAttribute(Type providerType) : Attribute
{
    /// <summary>The provider type (public, with a parameterless constructor).</summary>
    public Type ProviderType { get; } = providerType;
}

/// <summary>What a state provider gets: the deployment's settings (the target's and the state's own), the environment, the log and the clock.</summary>
public sealed record StateContext
{
    /// <summary>Settings by MSBuild property name (case-insensitive): the target's (ImmutableDockerHosts) and the state's (ImmutableAwsRegion, ImmutableAwsS3ServiceUrl).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>Environment lookup (credentials, endpoints, CI run).</summary>
    public Func<string, string?> GetEnvironmentVariable { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>The deployment's log.</summary>
    public ReleaseLog Log { get; init; } = ReleaseLog.None;

    /// <summary>The clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How shared locks and appends behave (lease, poll interval); its Time, Log and Origin are set from this context by <see cref="SharedOptions"/>.</summary>
    public ConditionalStateOptions Shared { get; init; } = new();

    /// <summary>The value of a setting, or null when it is not given.</summary>
    public string? Setting(string property) =>
        Settings.TryGetValue(property, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

    /// <summary><see cref="Shared"/> with this context's clock, log and origin.</summary>
    public ConditionalStateOptions SharedOptions() => Shared with { Time = Time, Log = Log, Origin = RecordOrigin.Current(GetEnvironmentVariable) };
}
