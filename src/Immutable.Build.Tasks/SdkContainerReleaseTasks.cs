using Immutable.Build.Releases;
using Microsoft.Build.Framework;

namespace Immutable.Build.Tasks;

/// <summary>SDK engine, before ComputeContainerConfig: the commit's tag, for ContainerImageTags.</summary>
public sealed class ComputeSdkContainerReleaseTag : ReleaseTaskBase
{
    [Output] public string Tag { get; private set; } = "";

    /// <inheritdoc />
    protected override void Run(ReleaseRequest request, ReleaseLog log) => Tag = SdkEngineRelease.ComputeTag(request);
}

/// <summary>SDK engine, before the SDK pushes: the tag guard.</summary>
public sealed class GuardSdkContainerRelease : ReleaseTaskBase
{
    /// <inheritdoc />
    protected override void Run(ReleaseRequest request, ReleaseLog log) =>
        SdkEngineRelease.GuardAsync(request, request.UserTags, log, CancellationToken).GetAwaiter().GetResult();
}

/// <summary>SDK engine, after PublishContainer: release.json from the SDK's digest.</summary>
public sealed class RecordSdkContainerRelease : ReleaseTaskBase
{
    [Required] public string Digest { get; set; } = "";
    public string? MediaType { get; set; }

    [Output] public string ImageDigest { get; private set; } = "";
    [Output] public string ImageReference { get; private set; } = "";
    [Output] public string ReleaseManifest { get; private set; } = "";
    [Output] public string ReleaseId { get; private set; } = "";
    [Output] public ITaskItem[] ReleaseTags { get; private set; } = [];

    /// <inheritdoc />
    protected override void Run(ReleaseRequest request, ReleaseLog log)
    {
        var result = SdkEngineRelease.Record(request, Digest, MediaType ?? "", request.UserTags, log);
        ImageDigest = result.Digest;
        ImageReference = result.Reference;
        ReleaseManifest = result.ManifestPath;
        ReleaseId = result.ReleaseId;
        ReleaseTags = TagItems(result.Tags);
    }
}
