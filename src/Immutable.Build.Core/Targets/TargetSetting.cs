namespace Immutable.Build.Targets;

/// <summary>One setting a target reads: its MSBuild property (the key in <see cref="TargetContext.Settings"/>) and its CLI option.</summary>
/// <param name="Property">The MSBuild property, e.g. <c>ImmutableDockerHosts</c>.</param>
/// <param name="Option">The CLI option, e.g. <c>--docker-hosts</c>.</param>
/// <param name="Description">One sentence for the CLI's help, with the default when there is one.</param>
public sealed record TargetSetting(string Property, string Option, string Description)
{
    /// <summary>A credential or the like: never written to the state directory, so it must be given on every command.</summary>
    public bool Secret { get; init; }
}
