using Amazon.EC2.Model;
using Immutable.Build.Targets;

namespace Immutable.Build.Aws;

/// <summary>
/// The tags on everything the EC2 target and the bake create (instances, volumes, AMIs, snapshots, launch templates,
/// target groups): the same keys as the other targets' labels, so that the target itself says what runs.
/// </summary>
internal static class Ec2Tags
{
    public const string Managed = "immutable.managed";
    public const string App = "immutable.app";
    public const string Environment = "immutable.environment";
    public const string Release = "immutable.release";
    public const string Commit = "immutable.commit";
    public const string Digest = "immutable.image-digest";
    public const string Group = "immutable.group";
    public const string Role = "immutable.role";

    /// <summary>The AMI an instance was launched from, so an instance that runs another one is reported as drift.</summary>
    public const string Ami = "immutable.ami";

    /// <summary>Share of traffic of a group when there is neither a listener nor an Elastic IP (the tag is then the record).</summary>
    public const string Weight = "immutable.weight";

    /// <summary>Who runs a bake (host and process), so that only a dead bake's builder is swept.</summary>
    public const string BakeOwner = "immutable.bake-owner";

    public const string InstanceRole = "instance";
    public const string BuilderRole = "builder";

    /// <summary>The tags of every resource of a scope and release.</summary>
    public static Dictionary<string, string> For(DeploymentScope scope, ReleaseRef release) => new(StringComparer.Ordinal)
    {
        [Managed] = "true",
        [App] = scope.App,
        [Environment] = scope.Environment,
        [Release] = release.ReleaseId,
        [Commit] = release.Commit ?? "",
        [Digest] = release.ImageDigest,
    };

    /// <summary>EC2 tag list.</summary>
    public static List<Tag> ToEc2(IReadOnlyDictionary<string, string> tags) => tags.Select(t => new Tag(t.Key, t.Value)).ToList();

    /// <summary>A tag specification for one resource type.</summary>
    public static TagSpecification Spec(string resourceType, IReadOnlyDictionary<string, string> tags) => new() { ResourceType = resourceType, Tags = ToEc2(tags) };

    /// <summary>Filters that select a scope's resources.</summary>
    public static List<Filter> ScopeFilters(DeploymentScope scope) =>
    [
        new Filter("tag:" + App, [scope.App]),
        new Filter("tag:" + Environment, [scope.Environment]),
    ];

    /// <summary>A tag's value, or null.</summary>
    public static string? Get(IEnumerable<Tag>? tags, string key) => tags?.FirstOrDefault(t => t.Key == key)?.Value;
}
