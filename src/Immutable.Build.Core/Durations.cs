using System.Globalization;
using System.Text.RegularExpressions;

namespace Immutable.Build;

/// <summary>
/// The one way a duration setting is written, for Core's settings and every target's: <c>500ms</c>, <c>30s</c>,
/// <c>5m</c>, <c>1h</c>, a bare number of seconds, or <c>hh:mm:ss</c>. Callers raise their own IMB code on a bad value.
/// </summary>
public static partial class Durations
{
    /// <summary>What a caller's message says a duration looks like.</summary>
    public const string Expected = "a duration such as 500ms, 30s, 5m, 1h or 00:01:00";

    /// <summary>Reads <paramref name="text"/>; false when it is no duration of zero or more.</summary>
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var m = DurationPattern().Match(text);
        if (m.Success && double.TryParse(m.Groups["n"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n))
        {
            duration = m.Groups["u"].Value.ToLowerInvariant() switch
            {
                "ms" => TimeSpan.FromMilliseconds(n),
                "m" or "min" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                _ => TimeSpan.FromSeconds(n),
            };
            return true;
        }

        if (text.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParse(text.Trim(), CultureInfo.InvariantCulture, out var span) && span >= TimeSpan.Zero)
        {
            duration = span;
            return true;
        }

        return false;
    }

    [GeneratedRegex(@"^\s*(?<n>\d+(\.\d+)?)\s*(?<u>ms|s|m|min|h)?\s*$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex DurationPattern();
}
