using System.Globalization;
using System.Text.RegularExpressions;

namespace Immutable.Build.Rollout;

/// <summary>
/// The rollout properties as MSBuild and the CLI give them (strings, possibly empty), turned into a
/// <see cref="RolloutStrategy"/>. Empty means the default. Bad values throw IMB6001-IMB6003 naming the property.
/// </summary>
public sealed partial record RolloutSettings
{
    /// <summary>ImmutableStrategy: bluegreen (default), canary or rolling (blue-green and blue_green are accepted too).</summary>
    public string? Strategy { get; init; }

    /// <summary>ImmutableReplicas: instances of the new release (default 1).</summary>
    public string? Replicas { get; init; }

    /// <summary>ImmutableCanarySteps: ';' or ','-separated percentages (default 10;50;100).</summary>
    public string? CanarySteps { get; init; }

    /// <summary>ImmutableCanaryPause: pause after each canary step but the last (default 0).</summary>
    public string? CanaryPause { get; init; }

    /// <summary>ImmutableAnalysisWindow: how long each analyse step observes (default 0: one evaluation).</summary>
    public string? AnalysisWindow { get; init; }

    /// <summary>ImmutableKeepOldFor: blue-green keeps the old group this long after the switch (default 0).</summary>
    public string? KeepOldFor { get; init; }

    /// <summary>ImmutableBatchSize: rolling batch size (default 1).</summary>
    public string? BatchSize { get; init; }

    /// <summary>ImmutableMaxSurge: rolling's extra instances at most (default 1).</summary>
    public string? MaxSurge { get; init; }

    /// <summary>Builds the strategy.</summary>
    public RolloutStrategy ToStrategy()
    {
        var replicas = ParseCount("ImmutableReplicas", Replicas, 1);
        var analysis = ParseDuration("ImmutableAnalysisWindow", AnalysisWindow, TimeSpan.Zero);
        var name = (Strategy ?? "").Trim().ToLowerInvariant().Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal);
        return name switch
        {
            "" or "bluegreen" => RolloutStrategy.BlueGreen(replicas, ParseDuration("ImmutableKeepOldFor", KeepOldFor, TimeSpan.Zero), analysis),
            "canary" => RolloutStrategy.Canary(replicas, ParseWeights(CanarySteps), ParseDuration("ImmutableCanaryPause", CanaryPause, TimeSpan.Zero), analysis),
            "rolling" => RolloutStrategy.Rolling(replicas, ParseCount("ImmutableBatchSize", BatchSize, 1), ParseCount("ImmutableMaxSurge", MaxSurge, 1), analysis),
            _ => throw new ImmutableBuildException(RolloutErrors.UnknownStrategy, $"ImmutableStrategy='{Strategy}' is not a strategy: use bluegreen, canary or rolling."),
        };
    }

    /// <summary>Parses canary weights such as <c>10;50;100</c> (IMB6002).</summary>
    public static IReadOnlyList<int>? ParseWeights(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var weights = new List<int>();
        foreach (var part in value.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part.TrimEnd('%'), NumberStyles.None, CultureInfo.InvariantCulture, out var w))
            {
                throw new ImmutableBuildException(RolloutErrors.InvalidCanarySteps, $"ImmutableCanarySteps='{value}': '{part}' is not a whole percentage. Give increasing percentages that end at 100, e.g. 10;50;100.");
            }

            weights.Add(w);
        }

        RolloutStrategy.ValidateWeights(weights);
        return weights;
    }

    /// <summary>Parses a duration: <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>, a bare number of seconds, or <c>hh:mm:ss</c> (IMB6003).</summary>
    public static TimeSpan ParseDuration(string property, string? value, TimeSpan fallback)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        var m = DurationPattern().Match(value);
        if (m.Success && double.TryParse(m.Groups["n"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n))
        {
            return m.Groups["u"].Value.ToLowerInvariant() switch
            {
                "ms" => TimeSpan.FromMilliseconds(n),
                "m" or "min" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                _ => TimeSpan.FromSeconds(n),
            };
        }

        if (value.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParse(value.Trim(), CultureInfo.InvariantCulture, out var span) && span >= TimeSpan.Zero)
        {
            return span;
        }

        throw RolloutErrors.Value(property, value, "a duration such as 500ms, 30s, 5m, 1h or 00:01:00");
    }

    /// <summary>Parses a whole number of at least 1 (IMB6003).</summary>
    public static int ParseCount(string property, string? value, int fallback)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        return int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1
            ? n
            : throw RolloutErrors.Value(property, value, "a whole number of at least 1");
    }

    [GeneratedRegex(@"^\s*(?<n>\d+(\.\d+)?)\s*(?<u>ms|s|m|min|h)?\s*$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex DurationPattern();
}
