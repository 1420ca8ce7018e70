using Immutable.Build.Deployments;
using Immutable.Build.Releases;

namespace Immutable.Build.Targets;

/// <summary>
/// Makes a target from deployment settings. Targets that live in their own assembly (Docker, EC2) come with a
/// provider; the adapters hand the providers they ship to <see cref="DeploymentSettings.TargetProviders"/>, so
/// Core never references a target's SDK.
/// </summary>
public interface IDeploymentTargetProvider
{
    /// <summary>The ImmutableTarget value it answers to, e.g. <c>docker</c>.</summary>
    string Name { get; }

    /// <summary>Creates the target; validates the target's settings and throws <see cref="ImmutableBuildException"/> on bad ones.</summary>
    IDeploymentTarget Create(DeploymentSettings settings, string stateDirectory, ReleaseLog log);
}
