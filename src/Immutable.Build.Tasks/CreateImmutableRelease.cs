using Immutable.Build.Releases;
using Microsoft.Build.Framework;

namespace Immutable.Build.Tasks;

/// <summary>Turns the publish output into a release with Immutable.Build's engine: one call to <see cref="ReleasePipeline"/>.</summary>
public sealed class CreateImmutableRelease : ReleaseTaskBase
{
    [Output] public string ImageDigest { get; private set; } = "";
    [Output] public string ImageReference { get; private set; } = "";
    [Output] public string ReleaseManifest { get; private set; } = "";
    [Output] public string ReleaseId { get; private set; } = "";
    [Output] public ITaskItem[] ReleaseTags { get; private set; } = [];

    /// <inheritdoc />
    protected override void Run(ReleaseRequest request, ReleaseLog log)
    {
        var result = ReleasePipeline.RunAsync(request, log, CancellationToken).GetAwaiter().GetResult();
        ImageDigest = result.Digest;
        ImageReference = result.Reference;
        ReleaseManifest = result.ManifestPath;
        ReleaseId = result.ReleaseId;
        ReleaseTags = TagItems(result.Tags);
    }
}
