using System.Globalization;

namespace Immutable.Build.Rollout;

/// <summary>
/// The rollout properties as MSBuild and the CLI give them (strings, possibly empty), turned into a
/// <see cref="RolloutStrategy"/>. Empty means the default. Bad values throw IMB6001-IMB6003 naming the property.
/// </summary>
public sealed record RolloutSettings
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
    public RolloutStrategy ToStrategy() => ToOptions().ToStrategy();

    /// <summary>
    /// The one parse of these strings into typed options. Only the fields the strategy uses are read, so a canary
    /// setting left over beside ImmutableStrategy=bluegreen is not an error.
    /// </summary>
    public RolloutOptions ToOptions()
    {
        var replicas = ParseCount("ImmutableReplicas", Replicas, 1);
        var analysis = ParseDuration("ImmutableAnalysisWindow", AnalysisWindow, TimeSpan.Zero);
        var options = new RolloutOptions { Kind = ParseKind(Strategy), Replicas = replicas, AnalysisWindow = analysis };
        return options.Kind switch
        {
            RolloutKind.Canary => options with { CanarySteps = ParseWeights(CanarySteps), CanaryPause = ParseDuration("ImmutableCanaryPause", CanaryPause, TimeSpan.Zero) },
            RolloutKind.Rolling => options with { BatchSize = ParseCount("ImmutableBatchSize", BatchSize, 1), MaxSurge = ParseCount("ImmutableMaxSurge", MaxSurge, 1) },
            _ => options with { KeepOldFor = ParseDuration("ImmutableKeepOldFor", KeepOldFor, TimeSpan.Zero) },
        };
    }

    /// <summary>True when no field is set: the caller's default applies (a rollback keeps the replica count that runs).</summary>
    public bool IsEmpty => new[] { Strategy, Replicas, CanarySteps, CanaryPause, AnalysisWindow, KeepOldFor, BatchSize, MaxSurge }.All(string.IsNullOrWhiteSpace);

    /// <summary>Parses a strategy name: bluegreen (default; blue-green and blue_green too), canary or rolling (IMB6001).</summary>
    public static RolloutKind ParseKind(string? value) =>
        (value ?? "").Trim().ToLowerInvariant().Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal) switch
        {
            "" or "bluegreen" => RolloutKind.BlueGreen,
            "canary" => RolloutKind.Canary,
            "rolling" => RolloutKind.Rolling,
            _ => throw new ImmutableBuildException(RolloutErrors.UnknownStrategy, $"ImmutableStrategy='{value}' is not a strategy: use bluegreen, canary or rolling."),
        };

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

        if (Durations.TryParse(value, out var duration))
        {
            return duration;
        }

        throw RolloutErrors.Value(property, value, Durations.Expected);
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
}
