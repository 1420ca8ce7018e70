namespace Immutable.Build.Targets;

/// <summary>
/// Makes a target from its own settings. A target that lives in its own assembly (Docker, EC2) names its provider
/// with <see cref="DeploymentTargetProviderAttribute"/>, so the adapters find it beside Core and Core never
/// references a target's SDK or settings.
/// </summary>
public interface IDeploymentTargetProvider
{
    /// <summary>The ImmutableTarget value it answers to, e.g. <c>docker</c>.</summary>
    string Name { get; }

    /// <summary>
    /// The settings the target reads, so that the CLI offers an option per setting, the MSBuild task forwards them
    /// and a scope remembers the non-secret ones from its last rollout.
    /// </summary>
    IReadOnlyList<TargetSetting> Settings { get; }

    /// <summary>Creates the target; parses and validates <see cref="TargetContext.Settings"/> and throws <see cref="ImmutableBuildException"/> with the target's own codes on bad ones.</summary>
    IDeploymentTarget Create(TargetContext context);
}
