using Immutable.Build.Versioning;

namespace Immutable.Build.Releases;

/// <summary>The release of one publish: revision, image, tags, registry, manifest.</summary>
public static class ReleasePipeline
{
    /// <summary>Runs the release.</summary>
    public static Task<ReleaseResult> RunAsync(ReleaseRequest request, ReleaseLog log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(log);
        cancellationToken.ThrowIfCancellationRequested();
        var revision = SourceRevisionReader.Read(new SourceRevisionOptions(request.ProjectDirectory, request.SourceRevision, request.EnvironmentVariables));
        log.Detail($"source revision {revision.Commit} ({revision.Origin}{(revision.IsDirty ? ", dirty" : "")})");
        throw new ImmutableBuildException("IMB0001", "Image assembly is not wired into this build yet.");
    }
}
