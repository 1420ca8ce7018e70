using Amazon.EC2.Model;
using Amazon.SimpleSystemsManagement.Model;
using Immutable.Build.Targets;

namespace Immutable.Build.Aws;

/// <summary>
/// The AMIs of an app: the baked one of a release (found by its image-digest tag, so a rollback to any kept release
/// finds its AMI without a record anywhere else), the base AMI (an id, or an SSM public parameter resolved at use),
/// and retention.
/// </summary>
internal sealed class Ec2Images(AwsClients aws, Ec2TargetOptions options)
{
    /// <summary>The available (or, with <paramref name="pending"/>, still pending) AMI of a release in a region, or null.</summary>
    public async Task<Image?> FindAsync(DeploymentScope scope, string imageDigest, string region, bool pending, CancellationToken cancellationToken)
    {
        var filters = Ec2Tags.ScopeFilters(scope);
        filters.Add(new Amazon.EC2.Model.Filter("tag:" + Ec2Tags.Digest, [imageDigest]));
        filters.Add(new Amazon.EC2.Model.Filter("state", pending ? ["available", "pending"] : ["available"]));
        var response = await aws.Calls.RunAsync("DescribeImages", ct => aws.Ec2In(region).DescribeImagesAsync(new DescribeImagesRequest { Owners = ["self"], Filters = filters }, ct), cancellationToken);
        return (response.Images ?? []).OrderByDescending(i => i.CreationDate, StringComparer.Ordinal).FirstOrDefault();
    }

    /// <summary>Every AMI the app's releases have in a region.</summary>
    public async Task<IReadOnlyList<Image>> AllAsync(DeploymentScope scope, string region, CancellationToken cancellationToken)
    {
        var filters = Ec2Tags.ScopeFilters(scope);
        filters.Add(new Amazon.EC2.Model.Filter("tag:" + Ec2Tags.Managed, ["true"]));
        var response = await aws.Calls.RunAsync("DescribeImages", ct => aws.Ec2In(region).DescribeImagesAsync(new DescribeImagesRequest { Owners = ["self"], Filters = filters }, ct), cancellationToken);
        return response.Images ?? [];
    }

    /// <summary>The base AMI's id: the setting itself, or the value of the SSM parameter it names.</summary>
    public async Task<string> BaseAmiAsync(CancellationToken cancellationToken)
    {
        var id = await ResolveBaseAmiAsync(cancellationToken);

        // Checked before anything launches: EC2 would refuse a missing AMI too, but only after a template version exists.
        try
        {
            var found = await aws.Calls.RunAsync("DescribeImages", ct => aws.Ec2.DescribeImagesAsync(new DescribeImagesRequest { ImageIds = [id] }, ct), cancellationToken);
            if (found.Images is { Count: > 0 })
            {
                return id;
            }
        }
        catch (ImmutableBuildException e) when (AwsCall.IsNotFound(e) || AwsCall.CodeOf(e) == "InvalidAMIID.Malformed")
        {
        }

        throw AwsErrors.Setting(AwsSettings.BaseAmi, options.BaseAmi, $"no AMI {id} exists in {options.Endpoints.Region} (or these credentials may not use it); give an AMI id of this region or an SSM parameter such as {Ec2TargetOptions.DefaultBaseAmi}");
    }

    private async Task<string> ResolveBaseAmiAsync(CancellationToken cancellationToken)
    {
        if (!options.BaseAmi.StartsWith('/'))
        {
            return options.BaseAmi;
        }

        try
        {
            var response = await aws.Calls.RunAsync("GetParameter", ct => aws.Ssm.GetParameterAsync(new GetParameterRequest { Name = options.BaseAmi }, ct), cancellationToken);
            return response.Parameter?.Value is { Length: > 0 } id && id.StartsWith("ami-", StringComparison.Ordinal)
                ? id
                : throw AwsErrors.Setting(AwsSettings.BaseAmi, options.BaseAmi, $"the SSM parameter holds '{response.Parameter?.Value}', not an AMI id");
        }
        catch (ImmutableBuildException e) when (e.InnerException is ParameterNotFoundException || AwsCall.CodeOf(e) == "ParameterNotFound")
        {
            throw AwsErrors.Setting(AwsSettings.BaseAmi, options.BaseAmi, $"no SSM parameter of that name exists in {options.Endpoints.Region}; give an AMI id or a parameter such as {Ec2TargetOptions.DefaultBaseAmi}");
        }
    }

    /// <summary>
    /// Deregisters the app's AMIs whose release is not kept, in every region it has copies in, and deletes their
    /// snapshots (a deregistered AMI's snapshots are otherwise billed forever). Returns how many AMIs went.
    /// </summary>
    public async Task<int> PruneAsync(DeploymentScope scope, IReadOnlyCollection<string> keepImageDigests, CancellationToken cancellationToken)
    {
        var removed = 0;
        foreach (var region in new[] { options.Endpoints.Region }.Concat(options.CopyToRegions).Distinct(StringComparer.Ordinal))
        {
            var ec2 = aws.Ec2In(region);
            foreach (var image in await AllAsync(scope, region, cancellationToken))
            {
                var digest = Ec2Tags.Get(image.Tags, Ec2Tags.Digest);
                if (digest is null || keepImageDigests.Contains(digest) || image.State?.Value == "pending")
                {
                    continue;
                }

                await aws.Calls.RunAsync("DeregisterImage", ct => ec2.DeregisterImageAsync(new DeregisterImageRequest { ImageId = image.ImageId }, ct), cancellationToken);
                foreach (var snapshot in (image.BlockDeviceMappings ?? []).Select(b => b.Ebs?.SnapshotId).Where(s => !string.IsNullOrEmpty(s)))
                {
                    try
                    {
                        await aws.Calls.RunAsync("DeleteSnapshot", ct => ec2.DeleteSnapshotAsync(new DeleteSnapshotRequest { SnapshotId = snapshot }, ct), cancellationToken);
                    }
                    catch (ImmutableBuildException e) when (AwsCall.IsNotFound(e))
                    {
                        // Deleted by hand, or by an earlier prune that stopped after the AMI went.
                    }
                }

                options.Log($"deregistered {image.ImageId} in {region} (release {Ec2Tags.Get(image.Tags, Ec2Tags.Release)}) and deleted its snapshots");
                removed++;
            }
        }

        return removed;
    }
}
