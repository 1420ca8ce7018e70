using System.Security.Cryptography;
using System.Text;
using Immutable.Build.Images;
using Immutable.Build.Registry;
using Immutable.Build.Versioning;

namespace Immutable.Build.Releases;

/// <summary>
/// Releases built by the SDK's own engine (<c>-t:PublishContainer</c>): the tags still come from the
/// commit, the tag guard still runs before the SDK pushes, and the release is recorded from the SDK's
/// digest, marked not reproducible (the SDK stamps the wall clock into every image).
/// </summary>
public static class SdkEngineRelease
{
    /// <summary>The release tag for the SDK's engine; a dirty tree is named by the publish output's content.</summary>
    public static string ComputeTag(ReleaseRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var revision = SourceRevisionReader.Read(new SourceRevisionOptions(request.ProjectDirectory, request.SourceRevision, request.EnvironmentVariables));
        var policy = ReleaseTags.ParsePolicy(request.TagPolicy);
        // The image digest is not known before the SDK builds it; the published files stand in for it.
        return ReleaseTags.Primary(revision, policy, request.Version, revision.IsDirty ? PublishContentDigest(request.PublishDirectory) : default);
    }

    /// <summary>
    /// Refuses (IMB2016) any tag that already exists: the SDK's next image always has another digest, so
    /// an existing tag can only be overwritten. With <see cref="ReleaseRequest.AllowTagOverwrite"/> it warns instead.
    /// </summary>
    public static async Task GuardAsync(ReleaseRequest request, IReadOnlyList<string> tags, ReleaseLog log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(tags);
        ArgumentNullException.ThrowIfNull(log);
        if (request.Registry is not { } registry)
        {
            log.Detail("SDK engine without a registry: no tags to guard");
            return;
        }

        using var client = ReleasePipeline.RegistryClientFor(registry, ReleasePipeline.EnvironmentReader(request), log);
        var existing = new List<TagGuardResult>();
        foreach (var tag in tags)
        {
            if (await client.HeadManifestAsync(request.Repository, tag, cancellationToken) is { } found)
            {
                existing.Add(new TagGuardResult(tag, request.AllowTagOverwrite ? TagDecision.Overwrite : TagDecision.Refuse, found.Digest));
            }
        }

        if (existing.Count == 0)
        {
            return;
        }

        if (!request.AllowTagOverwrite)
        {
            var names = string.Join(", ", existing.Select(e => $"'{e.Tag}' (at {e.ExistingDigest})"));
            throw new ImmutableBuildException(
                RegistryErrors.TagRefused,
                $"Refusing to let the SDK push {client.Registry}/{request.Repository}: {names} already exist. The SDK's engine gives every publish a new digest, so pushing would overwrite the tag. Nothing was pushed. "
                + "Fix: publish without -t:PublishContainer (Immutable.Build's engine is reproducible, so a rerun adopts the tag), publish a new commit, or set ImmutableAllowTagOverwrite=true to overwrite on purpose.");
        }

        foreach (var e in existing)
        {
            log.Warning("IMB2101", $"OVERWRITING tag {client.Registry}/{request.Repository}:{e.Tag} (now at {e.ExistingDigest}) with the SDK's image, because ImmutableAllowTagOverwrite=true.");
        }
    }

    /// <summary>Writes release.json for an image the SDK built and pushed.</summary>
    public static ReleaseResult Record(ReleaseRequest request, string digest, string mediaType, IReadOnlyList<string> tags, ReleaseLog log)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(tags);
        ArgumentNullException.ThrowIfNull(log);
        var parsed = Digest.Parse(digest);
        var revision = SourceRevisionReader.Read(new SourceRevisionOptions(request.ProjectDirectory, request.SourceRevision, request.EnvironmentVariables));
        var releaseId = tags.Count > 0 ? tags[0] : revision.ShortCommit;
        var reference = request.Registry is { } r ? $"{r}/{request.Repository}@{parsed}" : $"{request.Repository}@{parsed}";
        var image = new ReleaseImage
        {
            Registry = request.Registry,
            Repository = request.Repository,
            Digest = parsed.Value,
            Reference = reference,
            MediaType = string.IsNullOrEmpty(mediaType) ? MediaTypes.OciManifest : mediaType,
            Tags = tags,
            Reproducible = false,
            Engine = "sdk",
            Base = new ReleaseBaseImage(request.BaseImage, null),
        };
        var manifest = ReleaseManifestBuilder.Build(request, releaseId, revision, image);
        var path = Path.Combine(request.OutputDirectory, "release.json");
        ReleaseManifestFile.Write(path, manifest);
        log.Warning("IMB1102", $"Recorded release {releaseId} ({reference}) built by the SDK's engine: not reproducible, a rerun of this commit gets another digest. Publish without -t:PublishContainer for a reproducible, layered image.");
        log.Info($"  release manifest {path}");
        return new ReleaseResult(releaseId, parsed.Value, reference, path, tags, manifest);
    }

    private static Digest PublishContentDigest(string publishDirectory)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var root = Path.GetFullPath(publishDirectory);
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f).Replace('\\', '/')).Order(StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(file + "\n"));
            using var stream = File.OpenRead(Path.Combine(root, file));
            hash.AppendData(SHA256.HashData(stream));
        }

        return Digest.FromHash(hash.GetHashAndReset());
    }
}
