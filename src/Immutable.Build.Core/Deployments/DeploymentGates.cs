using System.Globalization;
using Immutable.Build.Rollout;

namespace Immutable.Build.Deployments;

/// <summary>
/// The gate settings of a deployment as given (null: not given), laid over those the scope remembers, then the
/// defaults. A rollback or status after a deploy thus probes what the deploy probed without being told again.
/// </summary>
internal sealed record DeploymentGates(string? HealthPath, TimeSpan? HealthTimeout, ReleaseIdentityCheck? Identity, PrometheusGateOptions? Prometheus, bool NoPrometheus)
{
    private const string HealthPathProperty = "ImmutableHealthPath";
    private const string HealthTimeoutProperty = "ImmutableHealthTimeout";
    private const string IdentityProperty = "ImmutableCheckReleaseIdentity";
    private const string PrometheusUrlProperty = "ImmutablePrometheusUrl";
    private const string PrometheusQueryProperty = "ImmutablePrometheusQuery";
    private const string PrometheusConditionProperty = "ImmutablePrometheusCondition";

    public static DeploymentGates Given(DeploymentOptions options) =>
        new(options.HealthPath, options.HealthTimeout, options.CheckReleaseIdentity, options.NoPrometheus ? null : options.Prometheus, options.NoPrometheus);

    /// <summary>The remembered settings, parsed as if given; a value that no longer parses is as good as not remembered.</summary>
    public static DeploymentGates Remembered(IReadOnlyDictionary<string, string>? remembered)
    {
        string? Get(string property) => remembered?.GetValueOrDefault(property);
        try
        {
            return Given(new DeploymentSettings
            {
                HealthPath = Get(HealthPathProperty),
                HealthTimeout = Get(HealthTimeoutProperty),
                CheckReleaseIdentity = Get(IdentityProperty),
                PrometheusUrl = Get(PrometheusUrlProperty),
                PrometheusQuery = Get(PrometheusQueryProperty),
                PrometheusCondition = Get(PrometheusConditionProperty),
            }.ToOptions());
        }
        catch (ImmutableBuildException)
        {
            return new DeploymentGates(null, null, null, null, false);
        }
    }

    /// <summary>These settings where given, <paramref name="remembered"/> where not.</summary>
    public DeploymentGates Over(DeploymentGates remembered)
    {
        ArgumentNullException.ThrowIfNull(remembered);
        var noPrometheus = NoPrometheus || (Prometheus is null && remembered.NoPrometheus);
        return new(HealthPath ?? remembered.HealthPath, HealthTimeout ?? remembered.HealthTimeout, Identity ?? remembered.Identity, noPrometheus ? null : Prometheus ?? remembered.Prometheus, noPrometheus);
    }

    public IReadOnlyList<IRolloutGate> HealthGates()
    {
        var health = new List<IRolloutGate> { new HttpGate(new HttpGateOptions { Path = HealthPath ?? "/healthz", Timeout = HealthTimeout ?? TimeSpan.FromSeconds(60) }) };
        if (Identity != ReleaseIdentityCheck.Off)
        {
            health.Add(new ReleaseIdentityGate(new ReleaseIdentityGateOptions { Required = Identity == ReleaseIdentityCheck.Required }));
        }

        return health;
    }

    public IReadOnlyList<IRolloutGate> AnalysisGates() => Prometheus is { } prometheus ? [new PrometheusGate(prometheus)] : [];

    /// <summary>What the scope remembers of these settings: only those set, so a later default still applies to the others.</summary>
    public IReadOnlyDictionary<string, string> ToRemembered()
    {
        var remembered = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (HealthPath is { } path)
        {
            remembered[HealthPathProperty] = path;
        }

        if (HealthTimeout is { } timeout)
        {
            remembered[HealthTimeoutProperty] = ((long)timeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";
        }

        if (Identity is { } identity)
        {
            remembered[IdentityProperty] = identity switch { ReleaseIdentityCheck.Required => "true", ReleaseIdentityCheck.Off => "false", _ => "auto" };
        }

        if (NoPrometheus)
        {
            remembered[PrometheusUrlProperty] = "none";
        }
        else if (Prometheus is { } prometheus)
        {
            remembered[PrometheusUrlProperty] = prometheus.Server.AbsoluteUri;
            remembered[PrometheusQueryProperty] = prometheus.Query;
            remembered[PrometheusConditionProperty] = prometheus.Condition;
        }

        return remembered;
    }
}
