using System.Globalization;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;

namespace Immutable.Build.Deployments;

/// <summary>
/// Where and how to roll a release out, as MSBuild properties and CLI options give it: strings, possibly empty
/// (empty is the default). <see cref="ToOptions"/> is the one parse into <see cref="DeploymentOptions"/>, with the
/// IMB codes that name the property.
/// </summary>
public sealed record DeploymentSettings
{
    /// <summary>ImmutableTarget: local (the embedded default), docker, ...; empty: the scope's last target, else local.</summary>
    public string? Target { get; init; }

    /// <summary>The app name (release.json's app); empty: the release's app, else the one app the state remembers.</summary>
    public string? App { get; init; }

    /// <summary>ImmutableEnvironment, default <c>default</c>.</summary>
    public string? Environment { get; init; }

    /// <summary>ImmutableStateDir; default IMMUTABLE_STATE_DIR, then the XDG state folder.</summary>
    public string? StateDirectory { get; init; }

    /// <summary>ImmutableStateUrl: s3://bucket/prefix or docker:// for shared state; empty: IMMUTABLE_STATE_URL, else the state directory.</summary>
    public string? StateUrl { get; init; }

    /// <summary>The target's own settings by MSBuild property name (ImmutableLocalPort, ImmutableDocker*, ...).</summary>
    public IReadOnlyDictionary<string, string> TargetSettings { get; init; } = new Dictionary<string, string>();

    /// <summary>The local host's assembly (shipped in the package and the tool).</summary>
    public string? LocalHostAssembly { get; init; }

    /// <summary>Strategy, replicas, canary steps, pauses.</summary>
    public RolloutSettings Rollout { get; init; } = new();

    /// <summary>ImmutableHealthPath, default /healthz (empty: the scope's last successful rollout's).</summary>
    public string? HealthPath { get; init; }

    /// <summary>ImmutableHealthTimeout (seconds or 30s, 2m), default 60s.</summary>
    public string? HealthTimeout { get; init; }

    /// <summary>ImmutableCheckReleaseIdentity: auto (default: checked when the app answers /version), true (required) or false.</summary>
    public string? CheckReleaseIdentity { get; init; }

    /// <summary>ImmutablePrometheusUrl: a Prometheus server for the metric gate; <c>none</c>: no metric gate, even one the scope remembers.</summary>
    public string? PrometheusUrl { get; init; }

    /// <summary>ImmutablePrometheusQuery: PromQL; {release} and {group} are replaced.</summary>
    public string? PrometheusQuery { get; init; }

    /// <summary>ImmutablePrometheusCondition, e.g. <c>&lt; 0.01</c>.</summary>
    public string? PrometheusCondition { get; init; }

    /// <summary>ImmutableRetain: previous releases kept on the target (default 2).</summary>
    public string? Retain { get; init; }

    /// <summary>ImmutablePruneRegistry: also delete pruned releases' manifests from their registry (default false).</summary>
    public string? PruneRegistry { get; init; }

    /// <summary>Environment variables for every instance (ImmutableInstanceEnvironment items).</summary>
    public IReadOnlyDictionary<string, string> InstanceEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Environment lookup (state dir, GITHUB_STEP_SUMMARY, credentials); null = the process's.</summary>
    public Func<string, string?>? GetEnvironmentVariable { get; init; }

    /// <summary>Targets beyond the built-in local one; null: those found beside Core.</summary>
    public IReadOnlyList<IDeploymentTargetProvider>? TargetProviders { get; init; }

    /// <summary>Parses the strings once: IMB6001-IMB6003 for the rollout, IMB6102 for the retention, IMB6103 for the Prometheus gate.</summary>
    public DeploymentOptions ToOptions()
    {
        string? Given(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
        return new DeploymentOptions
        {
            App = Given(App),
            Environment = Given(Environment) ?? Deployer.DefaultEnvironment,
            Target = Given(Target),
            TargetSettings = TargetSettings.Where(s => !string.IsNullOrWhiteSpace(s.Value)).ToDictionary(s => s.Key, s => s.Value, StringComparer.OrdinalIgnoreCase),
            StateDirectory = Given(StateDirectory),
            StateUrl = Given(StateUrl),
            HostAssembly = Given(LocalHostAssembly),
            Rollout = Rollout.IsEmpty ? null : Rollout.ToOptions(),
            HealthPath = Given(HealthPath),
            HealthTimeout = string.IsNullOrWhiteSpace(HealthTimeout) ? null : RolloutSettings.ParseDuration("ImmutableHealthTimeout", HealthTimeout, TimeSpan.Zero),
            CheckReleaseIdentity = ParseReleaseIdentityCheck(CheckReleaseIdentity),
            Prometheus = IsNone(PrometheusUrl) ? null : ParsePrometheus(PrometheusUrl, PrometheusQuery, PrometheusCondition),
            NoPrometheus = IsNone(PrometheusUrl),
            Retain = string.IsNullOrWhiteSpace(Retain) ? 2
                : int.TryParse(Retain, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
                : throw new ImmutableBuildException("IMB6102", $"ImmutableRetain='{Retain}' is not a whole number; give how many previous releases to keep, e.g. 2."),
            PruneRegistry = string.Equals(PruneRegistry?.Trim(), "true", StringComparison.OrdinalIgnoreCase),
            InstanceEnvironment = InstanceEnvironment,
            GetEnvironmentVariable = GetEnvironmentVariable,
            TargetProviders = TargetProviders,
        };
    }

    /// <summary>Parses ImmutableCheckReleaseIdentity: auto, true or false; null when empty (IMB6003 for anything else).</summary>
    public static ReleaseIdentityCheck? ParseReleaseIdentityCheck(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "auto" => ReleaseIdentityCheck.Auto,
        "true" => ReleaseIdentityCheck.Required,
        "false" => ReleaseIdentityCheck.Off,
        _ => throw RolloutErrors.Value("ImmutableCheckReleaseIdentity", value, "auto (check when the app answers /version, the default), true (require it) or false (do not check)"),
    };

    /// <summary>True for ImmutablePrometheusUrl=none: no metric gate, whatever the scope remembers.</summary>
    public static bool IsNone(string? prometheusUrl) => string.Equals(prometheusUrl?.Trim(), "none", StringComparison.OrdinalIgnoreCase);

    /// <summary>The Prometheus gate of a server, a query and a condition: none without a server, IMB6103 when one of them is missing.</summary>
    public static PrometheusGateOptions? ParsePrometheus(string? url, string? query, string? condition)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            return null;
        }

        return Uri.TryCreate(url, UriKind.Absolute, out var server) && !string.IsNullOrWhiteSpace(query) && !string.IsNullOrWhiteSpace(condition)
            ? new PrometheusGateOptions { Server = server, Query = query, Condition = condition }
            : throw new ImmutableBuildException("IMB6103", "The Prometheus gate needs ImmutablePrometheusUrl (an absolute http URL), ImmutablePrometheusQuery (PromQL) and ImmutablePrometheusCondition (e.g. '< 0.01').");
    }
}
