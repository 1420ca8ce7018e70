using System.Text;
using Amazon.EC2.Model;
using Immutable.Build.Targets;

namespace Immutable.Build.Aws;

/// <summary>A release's launch template version: the template id and the version number.</summary>
public sealed record LaunchTemplateVersionRef(string TemplateId, string TemplateName, long Version, string ImageId);

/// <summary>
/// One launch template per app and environment, one complete version per release (AMI, type, security groups,
/// profile, key, tags, user data: nothing inherited through SourceVersion), so that a version pinned in Terraform or an
/// Auto Scaling group is the release and nothing else. A version is recognised by its description, which holds the
/// release's digest, so relaunching a release (a later batch, a rollback) reuses its version.
/// </summary>
internal sealed class Ec2LaunchTemplates(AwsClients aws, Ec2TargetOptions options)
{
    private const string DescriptionPrefix = "immutable release ";

    /// <summary>The template's name for a scope: imb-app.environment.</summary>
    public static string NameOf(DeploymentScope scope) => ("imb-" + scope.Key) is var name && name.Length <= 128 ? name : name[..128];

    /// <summary>The version of <paramref name="release"/> on <paramref name="imageId"/>, created when there is none.</summary>
    public async Task<LaunchTemplateVersionRef> EnsureAsync(DeploymentScope scope, ReleaseRef release, string imageId, string userData, CancellationToken cancellationToken)
    {
        var name = NameOf(scope);
        var description = Description(release);
        var data = Data(scope, release, imageId, userData);
        var template = await FindAsync(name, cancellationToken);
        LaunchTemplateVersionRef created;
        if (template is null)
        {
            var response = await aws.Calls.RunAsync(
                "CreateLaunchTemplate",
                ct => aws.Ec2.CreateLaunchTemplateAsync(
                    new CreateLaunchTemplateRequest
                    {
                        LaunchTemplateName = name,
                        VersionDescription = description,
                        LaunchTemplateData = data,
                        TagSpecifications = [Ec2Tags.Spec("launch-template", new Dictionary<string, string> { [Ec2Tags.Managed] = "true", [Ec2Tags.App] = scope.App, [Ec2Tags.Environment] = scope.Environment })],
                    },
                    ct),
                cancellationToken);
            created = new LaunchTemplateVersionRef(response.LaunchTemplate.LaunchTemplateId, name, response.LaunchTemplate.LatestVersionNumber ?? 1, imageId);
        }
        else
        {
            var existing = (await VersionsAsync(template.LaunchTemplateId, cancellationToken))
                .FirstOrDefault(v => v.VersionDescription == description && v.LaunchTemplateData?.ImageId == imageId);
            if (existing is not null)
            {
                var found = new LaunchTemplateVersionRef(template.LaunchTemplateId, name, existing.VersionNumber ?? 0, imageId);
                await MakeDefaultAsync(found, existing.DefaultVersion == true, cancellationToken);
                return found;
            }

            var response = await aws.Calls.RunAsync(
                "CreateLaunchTemplateVersion",
                ct => aws.Ec2.CreateLaunchTemplateVersionAsync(
                    new CreateLaunchTemplateVersionRequest
                    {
                        LaunchTemplateId = template.LaunchTemplateId,
                        VersionDescription = description,
                        LaunchTemplateData = data,
                    },
                    ct),
                cancellationToken);
            created = new LaunchTemplateVersionRef(template.LaunchTemplateId, name, response.LaunchTemplateVersion.VersionNumber ?? 0, imageId);
        }

        options.Log($"launch template {name} ({created.TemplateId}) version {created.Version}: release {release.ReleaseId} on {imageId}");
        await MakeDefaultAsync(created, false, cancellationToken);
        return created;
    }

    /// <summary>Deletes versions of releases not kept; the default and the latest version stay (EC2 refuses to delete them).</summary>
    public async Task<int> PruneAsync(DeploymentScope scope, IReadOnlyCollection<string> keepImageDigests, CancellationToken cancellationToken)
    {
        var template = await FindAsync(NameOf(scope), cancellationToken);
        if (template is null)
        {
            return 0;
        }

        var versions = await VersionsAsync(template.LaunchTemplateId, cancellationToken);
        var latest = versions.Count == 0 ? 0 : versions.Max(v => v.VersionNumber ?? 0);
        var doomed = versions
            .Where(v => v.DefaultVersion != true && v.VersionNumber != latest)
            .Where(v => v.VersionDescription is { } d && d.StartsWith(DescriptionPrefix, StringComparison.Ordinal) && !keepImageDigests.Any(k => d.EndsWith(k, StringComparison.Ordinal)))
            .Select(v => (v.VersionNumber ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture))
            .ToList();
        foreach (var chunk in doomed.Chunk(200))
        {
            await aws.Calls.RunAsync("DeleteLaunchTemplateVersions", ct => aws.Ec2.DeleteLaunchTemplateVersionsAsync(new DeleteLaunchTemplateVersionsRequest { LaunchTemplateId = template.LaunchTemplateId, Versions = [.. chunk] }, ct), cancellationToken);
        }

        if (doomed.Count > 0)
        {
            options.Log($"deleted launch template {template.LaunchTemplateName} version(s) {string.Join(", ", doomed)}");
        }

        return doomed.Count;
    }

    /// <summary>The versions of the scope's template (every page).</summary>
    public async Task<IReadOnlyList<LaunchTemplateVersion>> VersionsAsync(string templateId, CancellationToken cancellationToken)
    {
        var versions = new List<LaunchTemplateVersion>();
        string? next = null;
        do
        {
            var token = next;
            var page = await aws.Calls.RunAsync("DescribeLaunchTemplateVersions", ct => aws.Ec2.DescribeLaunchTemplateVersionsAsync(new DescribeLaunchTemplateVersionsRequest { LaunchTemplateId = templateId, MaxResults = 200, NextToken = token }, ct), cancellationToken);
            versions.AddRange(page.LaunchTemplateVersions ?? []);
            next = page.NextToken;
        }
        while (!string.IsNullOrEmpty(next));
        return versions;
    }

    /// <summary>The scope's template, or null.</summary>
    public async Task<LaunchTemplate?> FindAsync(string name, CancellationToken cancellationToken)
    {
        var response = await aws.Calls.RunAsync(
            "DescribeLaunchTemplates",
            ct => aws.Ec2.DescribeLaunchTemplatesAsync(new DescribeLaunchTemplatesRequest { Filters = [new Amazon.EC2.Model.Filter("launch-template-name", [name])] }, ct),
            cancellationToken);
        return response.LaunchTemplates?.FirstOrDefault(t => t.LaunchTemplateName == name);
    }

    private static string Description(ReleaseRef release) => DescriptionPrefix + release.ReleaseId[..Math.Min(release.ReleaseId.Length, 64)] + " " + release.ImageDigest;

    private async Task MakeDefaultAsync(LaunchTemplateVersionRef version, bool already, CancellationToken cancellationToken)
    {
        if (!options.SetDefaultVersion || already)
        {
            return;
        }

        var number = version.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await aws.Calls.RunAsync("ModifyLaunchTemplate", ct => aws.Ec2.ModifyLaunchTemplateAsync(new ModifyLaunchTemplateRequest { LaunchTemplateId = version.TemplateId, DefaultVersion = number }, ct), cancellationToken);
        options.Log($"launch template {version.TemplateName} default version is now {number}");
    }

    private RequestLaunchTemplateData Data(DeploymentScope scope, ReleaseRef release, string imageId, string userData)
    {
        var tags = Ec2Tags.For(scope, release);
        tags[Ec2Tags.Ami] = imageId;
        var data = new RequestLaunchTemplateData
        {
            ImageId = imageId,
            InstanceType = options.InstanceType,
            UserData = Convert.ToBase64String(Encoding.UTF8.GetBytes(userData)),
            TagSpecifications =
            [
                new LaunchTemplateTagSpecificationRequest { ResourceType = "instance", Tags = Ec2Tags.ToEc2(tags) },
                new LaunchTemplateTagSpecificationRequest { ResourceType = "volume", Tags = Ec2Tags.ToEc2(tags) },
            ],

            // The instance reads its group from its own tags (the group is known per launch, the version per release).
            MetadataOptions = new LaunchTemplateInstanceMetadataOptionsRequest { HttpTokens = "required", InstanceMetadataTags = "enabled", HttpEndpoint = "enabled" },
        };
        if (options.SecurityGroups.Count > 0)
        {
            data.SecurityGroupIds = [.. options.SecurityGroups];
        }

        if (options.InstanceProfile is { } profile)
        {
            data.IamInstanceProfile = profile.StartsWith("arn:", StringComparison.Ordinal)
                ? new LaunchTemplateIamInstanceProfileSpecificationRequest { Arn = profile }
                : new LaunchTemplateIamInstanceProfileSpecificationRequest { Name = profile };
        }

        if (options.KeyName is { } key)
        {
            data.KeyName = key;
        }

        return data;
    }
}
