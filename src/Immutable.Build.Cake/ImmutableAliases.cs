using Cake.Core;
using Cake.Core.Annotations;

namespace Immutable.Build.Cake;

/// <summary>
/// Cake aliases for Immutable.Build releases. They are plain <see cref="ICakeContext"/> extension
/// methods, so a Cake Frosting task calls them the same way: <c>context.ImmutableVersion()</c>.
/// </summary>
[CakeAliasCategory("Immutable.Build")]
public static class ImmutableAliases
{
    /// <summary>The version of the Immutable.Build addin that the script loaded.</summary>
    /// <param name="context">The Cake context.</param>
    [CakeMethodAlias]
    public static string ImmutableVersion(this ICakeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return typeof(ImmutableAliases).Assembly.GetName().Version?.ToString() ?? "0.0.0";
    }
}
