using System.Reflection;
using Immutable.Build.Versioning;

namespace Immutable.Build.Releases;

/// <summary>Builds release.json's content from what a release knows; shared by both image engines.</summary>
public static class ReleaseManifestBuilder
{
    /// <summary>The version of Immutable.Build that writes manifests.</summary>
    public static string ToolVersion { get; } =
        typeof(ReleaseManifestBuilder).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>Assembles the manifest, including an in-toto statement whose subject is the image digest.</summary>
    public static ReleaseManifest Build(ReleaseRequest request, string releaseId, SourceRevision revision, ReleaseImage image)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(revision);
        ArgumentNullException.ThrowIfNull(image);
        var source = new ReleaseSource(revision.Commit, revision.ShortCommit, revision.IsDirty, revision.CommitTime, revision.RepositoryUrl, revision.Origin switch
        {
            RevisionOrigin.Git => "git",
            RevisionOrigin.CiVariable => "ci:" + revision.OriginDetail,
            _ => "ImmutableSourceRevision",
        });

        var dependencies = new List<SlsaResourceDescriptor>
        {
            new(revision.RepositoryUrl is { } url ? "git+" + url : "git:unknown", new Dictionary<string, string> { ["gitCommit"] = revision.Commit }),
        };
        if (image.Base is { Digest: { } baseDigest } b && Images.Digest.TryParse(baseDigest, out var parsed))
        {
            dependencies.Add(new SlsaResourceDescriptor("oci:" + b.Reference, new Dictionary<string, string> { ["sha256"] = parsed.Hex }));
        }

        var subjectName = image.Registry is null ? image.Repository : $"{image.Registry}/{image.Repository}";
        var provenance = new ProvenanceStatement(
            "https://in-toto.io/Statement/v1",
            [new ProvenanceSubject(subjectName, new Dictionary<string, string> { ["sha256"] = Images.Digest.Parse(image.Digest).Hex })],
            "https://slsa.dev/provenance/v1",
            new SlsaProvenance(
                new SlsaBuildDefinition(
                    "https://immutable.build/dotnet-publish/v1",
                    new Dictionary<string, string>
                    {
                        ["configuration"] = request.Configuration ?? "",
                        ["targetFramework"] = request.TargetFramework ?? "",
                        ["runtimeIdentifier"] = request.RuntimeIdentifier,
                        ["engine"] = image.Engine,
                    },
                    dependencies),
                new SlsaRunDetails(new SlsaBuilder($"https://immutable.build/builder/{ToolVersion}"))));

        return new ReleaseManifest
        {
            App = request.AppName,
            ReleaseId = releaseId,
            Source = source,
            Image = image,
            Build = new ReleaseBuildInfo(request.SdkVersion, request.Configuration, request.TargetFramework, request.RuntimeIdentifier, ToolVersion),
            Provenance = provenance,
        };
    }
}
