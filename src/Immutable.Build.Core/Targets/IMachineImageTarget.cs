namespace Immutable.Build.Targets;

/// <summary>
/// A target that can bake a release into a machine image (an AMI) and give it a launch configuration of its own, so
/// instances start from the image with no registry. Baking is idempotent: an image already made from the release's
/// digest is adopted.
/// </summary>
public interface IMachineImageTarget
{
    /// <summary>Bakes (or adopts) the release's image in every region it is wanted in, and its launch configuration.</summary>
    Task<MachineImageRelease> BakeAsync(DeploymentScope scope, ReleaseRef release, CancellationToken cancellationToken);
}

/// <summary>What a bake made: the image per region, and the launch configuration (template id and version) that launches it.</summary>
public sealed record MachineImageRelease(IReadOnlyDictionary<string, string> ImagesByRegion, string? LaunchTemplateId, string? LaunchTemplateName, long? LaunchTemplateVersion);
