using System.Text.RegularExpressions;

namespace Immutable.Build.Targets.Local;

/// <summary>
/// The one rule for a group name, checked by the target before it calls the host and by the host for any other
/// caller of its control API: the name becomes part of instance ids, log file names and URL paths.
/// </summary>
internal static partial class LocalGroupName
{
    /// <exception cref="ImmutableBuildException">IMB7009 when <paramref name="group"/> breaks the rule.</exception>
    public static void Validate(string group)
    {
        if (string.IsNullOrEmpty(group) || !Pattern().IsMatch(group))
        {
            throw LocalErrors.InvalidRequest($"The group name '{group}' is invalid: use 1 to 63 of a-z, 0-9, '-', '_' and '.', starting with a letter or digit");
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
