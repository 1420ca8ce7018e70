using Immutable.Build.Images;
using Immutable.Build.Registry;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>The comparison behind IMB2016: which cause a refused tag has, and what differs.</summary>
public sealed class TagConflictTests
{
    private const string CommitA = "0123456789abcdef0123456789abcdef01234567";
    private const string CommitB = "89abcdef0123456789abcdef0123456789abcdef";
    private static readonly Digest Existing = Digest.Of("existing"u8);

    private static ConflictingImage Image(
        string commit = CommitA,
        string source = "https://github.com/o/r",
        string[]? env = null,
        string[]? baseLayers = null,
        string app = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        string mediaType = MediaTypes.OciManifest,
        IReadOnlyDictionary<string, string>? build = null)
    {
        var bases = baseLayers ?? [];
        var layers = bases.Concat(["sha256:1111111111111111111111111111", app]).Select(d => new Descriptor(MediaTypes.OciLayerGzip, d, 1)).ToList();
        var history = bases.Select(_ => new HistoryEntry { CreatedBy = "/bin/sh -c #(nop) ADD file" })
            .Append(new HistoryEntry { CreatedBy = "/bin/sh -c #(nop) ENV X=1", EmptyLayer = true })
            .Concat(new[] { "packages", "app" }.Select(n => new HistoryEntry { CreatedBy = ImageAssembler.CreatedBy, Comment = $"Immutable.Build: {n} layer" }))
            .ToList();
        var config = new ImageConfig
        {
            Os = "linux",
            Architecture = "amd64",
            Created = "2023-11-14T22:13:20Z",
            Config = new ContainerConfig
            {
                Env = env ?? ["PATH=/usr/bin", "ASPNETCORE_HTTP_PORTS=8080"],
                Entrypoint = ["dotnet", "/app/App.dll"],
                Labels = new Dictionary<string, string> { [TagConflict.RevisionLabel] = commit, [TagConflict.SourceLabel] = source, ["immutable.app"] = "hello" },
            },
            History = history,
        };
        var manifest = new ImageManifest { MediaType = mediaType, Config = new Descriptor(MediaTypes.OciConfig, "sha256:c0", 2), Layers = layers };
        return new ConflictingImage(mediaType, manifest, config, build ?? new Dictionary<string, string>());
    }

    [Fact]
    public void Another_revision_is_a_reused_tag_and_names_both_commits()
    {
        var conflict = TagConflict.Compare("1.0.0", Existing, Image(CommitA), Image(CommitB, app: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbb"));

        Assert.Equal(TagConflictKind.TagReused, conflict.Kind);
        Assert.Equal($"the tag '1.0.0' holds commit 0123456789ab ({Existing}), but this build is commit 89abcdef0123: the tag was reused by another commit", conflict.Describe());
        Assert.Empty(conflict.Differences);
    }

    [Fact]
    public void The_same_revision_with_another_source_URL_names_the_source_label_and_nothing_else()
    {
        var conflict = TagConflict.Compare("0123456789ab", Existing, Image(source: "git@github.com:o/r"), Image(source: "https://github.com/o/r"));

        Assert.Equal(TagConflictKind.SameCommitOtherContent, conflict.Kind);
        Assert.Equal(["source label (org.opencontainers.image.source): 'git@github.com:o/r' → 'https://github.com/o/r'"], conflict.Differences);
        Assert.Contains("holds this same commit 0123456789ab", conflict.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_same_revision_names_environment_base_image_app_layer_format_and_build_facts()
    {
        var before = Image(
            env: ["PATH=/usr/bin", "ASPNETCORE_HTTP_PORTS=8080"],
            baseLayers: ["sha256:base1base1base1base1base1", "sha256:base2base2base2base2base2"],
            build: new Dictionary<string, string> { ["SDK version"] = "10.0.100", [TagConflict.DirtyFact] = "no" });
        var now = Image(
            env: ["PATH=/usr/bin", "ASPNETCORE_HTTP_PORTS=9090", "DEBUG=1"],
            baseLayers: ["sha256:base1base1base1base1base1", "sha256:base3base3base3base3base3"],
            app: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            mediaType: MediaTypes.DockerManifest,
            build: new Dictionary<string, string> { ["SDK version"] = "10.0.200", [TagConflict.DirtyFact] = "yes" });

        var diffs = TagConflict.Diff(before, now);

        Assert.Equal(
            [
                "manifest format (ContainerImageFormat): 'OCI' → 'Docker'",
                "environment variable ASPNETCORE_HTTP_PORTS: '8080' → '9090'",
                "environment variable DEBUG: (none) → '1'",
                "base image: 2 layers ending sha256:base2base2ba → 2 layers ending sha256:base3base3ba (another ContainerBaseImage, or its tag moved: name it by digest)",
                "app layer: 'sha256:aaaaaaaaaaaa' → 'sha256:bbbbbbbbbbbb'",
                "SDK version: '10.0.100' → '10.0.200'",
                "uncommitted changes: 'no' → 'yes'",
            ],
            diffs);
    }

    [Fact]
    public void Without_the_other_build_facts_only_a_dirty_work_tree_here_is_named()
    {
        var diffs = TagConflict.Diff(
            Image(),
            Image(app: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbb", build: new Dictionary<string, string> { ["SDK version"] = "10.0.200", [TagConflict.DirtyFact] = "yes" }));

        Assert.Equal(["app layer: 'sha256:aaaaaaaaaaaa' → 'sha256:bbbbbbbbbbbb'", "this build's work tree has uncommitted changes"], diffs);
    }

    [Fact]
    public void An_image_without_a_revision_label_is_unknown_and_keeps_the_plain_wording()
    {
        var foreign = Image() with { Config = new ImageConfig { Os = "linux", Architecture = "amd64" } };

        var conflict = TagConflict.Compare("1.0.0", Existing, foreign, Image());

        Assert.Equal(TagConflictKind.Unknown, conflict.Kind);
        Assert.Equal($"'1.0.0' already points at {Existing}", conflict.Describe());
    }
}
