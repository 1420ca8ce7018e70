namespace Immutable.Build.Targets;

/// <summary>
/// Names the <see cref="IDeploymentTargetProvider"/> of a target assembly. Core looks for it in the
/// Immutable.Build.*.dll files beside itself, so shipping a target's assembly with an adapter is all it takes.
/// </summary>
/// <param name="providerType">A public class with a parameterless constructor that implements <see cref="IDeploymentTargetProvider"/>.</param>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class DeploymentTargetProviderAttribute(Type providerType) : Attribute
{
    /// <summary>The provider's type.</summary>
    public Type ProviderType { get; } = providerType;
}
