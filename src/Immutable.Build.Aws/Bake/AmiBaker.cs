using System.Diagnostics;
using Amazon.EC2.Model;
using Amazon.SimpleSystemsManagement.Model;
using Immutable.Build.Targets;

namespace Immutable.Build.Aws.Bake;

/// <summary>
/// Bakes a release into an AMI the way EC2 Image Builder does: a builder instance from the base AMI, the install
/// script through SSM Run Command, stop, CreateImage, tags on the AMI and its snapshots, copies to other regions.
/// The builder is always terminated: on success, failure and cancellation here, and after a killed bake by the next
/// command, which finds builders by their tags (written with the launch, so no builder exists without them).
/// An AMI already tagged with the release's digest is adopted, never baked again.
/// </summary>
internal sealed class AmiBaker(AwsClients aws, Ec2TargetOptions options, Ec2Images images)
{
    /// <summary>How long CreateImage and CopyImage may take to become available.</summary>
    public TimeSpan ImageTimeout { get; init; } = TimeSpan.FromMinutes(45);

    /// <summary>The AMI of the release per region: found, or baked now.</summary>
    public async Task<IReadOnlyDictionary<string, string>> BakeAsync(DeploymentScope scope, ReleaseRef release, CancellationToken cancellationToken)
    {
        if (release.ImageSource.StartsWith("oci:", StringComparison.Ordinal))
        {
            throw new ImmutableBuildException(AwsErrors.NoImageCode, $"Release {release.ReleaseId} has no registry image (it was published to {release.ImageSource}), so a builder cannot pull it: publish with ContainerRegistry set before baking an AMI.");
        }

        await SweepAsync(aws, options, scope, cancellationToken);
        var home = options.Endpoints.Region;
        var amis = new Dictionary<string, string>(StringComparer.Ordinal);
        var existing = await images.FindAsync(scope, release.ImageDigest, home, pending: true, cancellationToken);
        Image image;
        if (existing is not null)
        {
            options.Log($"AMI {existing.ImageId} in {home} already holds release {release.ReleaseId} ({release.ImageDigest}): adopted, not baked again");
            image = await WaitAvailableAsync(home, existing.ImageId, cancellationToken);
        }
        else
        {
            image = await BuildAsync(scope, release, cancellationToken);
        }

        amis[home] = image.ImageId;
        foreach (var region in options.CopyToRegions.Where(r => r != home))
        {
            amis[region] = await CopyAsync(scope, release, image, region, cancellationToken);
        }

        return amis;
    }

    /// <summary>
    /// Terminates builders of the scope left by a bake that can no longer finish: its process on this machine is gone,
    /// or it began longer ago than any bake may take. Returns how many were terminated.
    /// </summary>
    public static async Task<int> SweepAsync(AwsClients aws, Ec2TargetOptions options, DeploymentScope scope, CancellationToken cancellationToken)
    {
        var filters = Ec2Tags.ScopeFilters(scope);
        filters.Add(new Amazon.EC2.Model.Filter("tag:" + Ec2Tags.Role, [Ec2Tags.BuilderRole]));
        filters.Add(new Amazon.EC2.Model.Filter("instance-state-name", ["pending", "running", "stopping", "stopped"]));
        var response = await aws.Calls.RunAsync("DescribeInstances", ct => aws.Ec2.DescribeInstancesAsync(new DescribeInstancesRequest { Filters = filters }, ct), cancellationToken);
        var now = options.Time.GetUtcNow();
        var dead = (response.Reservations ?? []).SelectMany(r => r.Instances ?? [])
            .Where(i => BakeOwner.Parse(Ec2Tags.Get(i.Tags, Ec2Tags.BakeOwner)) is not { } owner || owner.IsGone(now, options.BakeTimeout + TimeSpan.FromHours(1)))
            .Select(i => i.InstanceId).ToList();
        if (dead.Count > 0)
        {
            await aws.Calls.RunAsync("TerminateInstances", ct => aws.Ec2.TerminateInstancesAsync(new TerminateInstancesRequest { InstanceIds = dead }, ct), cancellationToken);
            options.Log($"terminated {dead.Count} builder instance(s) left by a bake that did not finish: {string.Join(", ", dead)}");
        }

        return dead.Count;
    }

    private async Task<Image> BuildAsync(DeploymentScope scope, ReleaseRef release, CancellationToken cancellationToken)
    {
        if (options.BuilderInstanceProfile is null)
        {
            throw AwsErrors.Setting(AwsSettings.BuilderInstanceProfile, "", "a bake needs an instance profile for the builder with SSM access (the AmazonSSMManagedInstanceCore policy)");
        }

        var baseAmi = await images.BaseAmiAsync(cancellationToken);
        var tags = Ec2Tags.For(scope, release);
        tags[Ec2Tags.Role] = Ec2Tags.BuilderRole;
        tags[Ec2Tags.BakeOwner] = BakeOwner.Current(options.Time.GetUtcNow()).ToString();
        tags["Name"] = $"{scope.App}-{scope.Environment}-builder-{release.ReleaseId}";
        var request = new RunInstancesRequest
        {
            ImageId = baseAmi,
            InstanceType = options.InstanceType,
            MinCount = 1,
            MaxCount = 1,
            IamInstanceProfile = options.BuilderInstanceProfile.StartsWith("arn:", StringComparison.Ordinal)
                ? new IamInstanceProfileSpecification { Arn = options.BuilderInstanceProfile }
                : new IamInstanceProfileSpecification { Name = options.BuilderInstanceProfile },
            TagSpecifications = [Ec2Tags.Spec("instance", tags), Ec2Tags.Spec("volume", tags)],
            MetadataOptions = new InstanceMetadataOptionsRequest { HttpTokens = "required" },
        };
        if (options.Subnets.Count > 0)
        {
            request.SubnetId = options.Subnets[0];
        }

        if (options.SecurityGroups.Count > 0)
        {
            request.SecurityGroupIds = [.. options.SecurityGroups];
        }

        var builder = (await aws.Calls.RunAsync("RunInstances", ct => aws.Ec2.RunInstancesAsync(request, ct), cancellationToken)).Reservation.Instances[0].InstanceId;
        options.Log($"builder {builder} launched from {baseAmi} for release {release.ReleaseId}");
        try
        {
            await WaitStateAsync(builder, "running", options.StartTimeout, cancellationToken);
            await InstallAsync(builder, scope, release, cancellationToken);
            await aws.Calls.RunAsync("StopInstances", ct => aws.Ec2.StopInstancesAsync(new StopInstancesRequest { InstanceIds = [builder] }, ct), cancellationToken);
            await WaitStateAsync(builder, "stopped", options.StartTimeout, cancellationToken);
            var imageTags = Ec2Tags.For(scope, release);
            var name = $"imb-{scope.Key}-{release.ReleaseId}-{release.ImageDigest.Split(':')[^1][..12]}";
            var created = await aws.Calls.RunAsync(
                "CreateImage",
                ct => aws.Ec2.CreateImageAsync(
                    new CreateImageRequest
                    {
                        InstanceId = builder,
                        Name = name.Length <= 128 ? name : name[..128],
                        Description = $"{scope.App} release {release.ReleaseId} ({release.ImageDigest})",
                        TagSpecifications = [Ec2Tags.Spec("image", imageTags)],
                    },
                    ct),
                cancellationToken);
            options.Log($"AMI {created.ImageId} created from {builder}; waiting until it is available");
            var image = await WaitAvailableAsync(options.Endpoints.Region, created.ImageId, cancellationToken);
            await TagSnapshotsAsync(options.Endpoints.Region, image, imageTags, cancellationToken);
            return image;
        }
        finally
        {
            // Whatever happened (cancellation included), the builder goes: an AMI is never worth a running builder.
            await aws.Calls.RunAsync("TerminateInstances", ct => aws.Ec2.TerminateInstancesAsync(new TerminateInstancesRequest { InstanceIds = [builder] }, ct), CancellationToken.None);
            options.Log($"builder {builder} terminated");
        }
    }

    private async Task InstallAsync(string builder, DeploymentScope scope, ReleaseRef release, CancellationToken cancellationToken)
    {
        var script = ReleaseScripts.InstallScript(new ReleaseScriptInput(release.ImageSource, release.ImageDigest, options.AppPort, release.ReleaseId, release.Commit ?? "", scope.App, scope.Environment, ""), "bake");
        var seconds = ((long)Math.Ceiling(options.BakeTimeout.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var send = new SendCommandRequest
        {
            DocumentName = "AWS-RunShellScript",
            InstanceIds = [builder],
            Comment = $"immutable bake of {scope.App} {release.ReleaseId}",
            Parameters = new Dictionary<string, List<string>> { ["commands"] = [.. script.Split('\n')], ["executionTimeout"] = [seconds] },
        };

        // A new instance's SSM agent registers a little after it runs; until then SendCommand says InvalidInstanceId.
        string? commandId = null;
        var sent = await Wait.UntilAsync(
            async ct =>
            {
                try
                {
                    commandId = (await aws.Calls.RunAsync("SendCommand", c => aws.Ssm.SendCommandAsync(send, c), ct)).Command.CommandId;
                    return true;
                }
                catch (ImmutableBuildException e) when (AwsCall.CodeOf(e) is "InvalidInstanceId")
                {
                    return false;
                }
            },
            options.StartTimeout,
            options.PollInterval,
            options.Time,
            cancellationToken);
        if (!sent)
        {
            throw new ImmutableBuildException(AwsErrors.CallCode, $"Builder {builder} did not register with SSM within {options.StartTimeout.TotalSeconds:0}s: give {AwsSettings.BuilderInstanceProfile} a role with AmazonSSMManagedInstanceCore, and a subnet with a route to SSM (a NAT gateway or VPC endpoints).");
        }

        options.Log($"install script sent to {builder} (SSM command {commandId})");
        GetCommandInvocationResponse? result = null;
        var finished = await Wait.UntilAsync(
            async ct =>
            {
                try
                {
                    result = await aws.Calls.RunAsync("GetCommandInvocation", c => aws.Ssm.GetCommandInvocationAsync(new GetCommandInvocationRequest { CommandId = commandId, InstanceId = builder }, c), ct);
                }
                catch (ImmutableBuildException e) when (AwsCall.CodeOf(e) is "InvocationDoesNotExist")
                {
                    return false;
                }

                return result.Status?.Value is "Success" or "Failed" or "Cancelled" or "TimedOut";
            },
            options.BakeTimeout,
            options.PollInterval,
            options.Time,
            cancellationToken);
        if (!finished || result?.Status?.Value != "Success")
        {
            var tail = Tail(result?.StandardOutputContent, result?.StandardErrorContent);
            throw new ImmutableBuildException(
                AwsErrors.BakeCode,
                finished
                    ? $"The install script on builder {builder} ended {result?.Status?.Value} (exit {result?.ResponseCode}).{tail}"
                    : $"The install script on builder {builder} did not finish within {options.BakeTimeout.TotalMinutes:0.#} minutes ({AwsSettings.BakeTimeout}).{tail}");
        }
    }

    private async Task<string> CopyAsync(DeploymentScope scope, ReleaseRef release, Image source, string region, CancellationToken cancellationToken)
    {
        if (await images.FindAsync(scope, release.ImageDigest, region, pending: true, cancellationToken) is { } copied)
        {
            return (await WaitAvailableAsync(region, copied.ImageId, cancellationToken)).ImageId;
        }

        var ec2 = aws.Ec2In(region);
        var copy = await aws.Calls.RunAsync("CopyImage", ct => ec2.CopyImageAsync(new CopyImageRequest { SourceImageId = source.ImageId, SourceRegion = options.Endpoints.Region, Name = source.Name, Description = source.Description }, ct), cancellationToken);
        var tags = Ec2Tags.For(scope, release);
        await aws.Calls.RunAsync("CreateTags", ct => ec2.CreateTagsAsync(new CreateTagsRequest { Resources = [copy.ImageId], Tags = Ec2Tags.ToEc2(tags) }, ct), cancellationToken);
        options.Log($"AMI {source.ImageId} copied to {region} as {copy.ImageId}; waiting until it is available");
        var image = await WaitAvailableAsync(region, copy.ImageId, cancellationToken);
        await TagSnapshotsAsync(region, image, tags, cancellationToken);
        return image.ImageId;
    }

    private async Task TagSnapshotsAsync(string region, Image image, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken)
    {
        var snapshots = (image.BlockDeviceMappings ?? []).Select(b => b.Ebs?.SnapshotId).Where(s => !string.IsNullOrEmpty(s)).Select(s => s!).ToList();
        if (snapshots.Count > 0)
        {
            await aws.Calls.RunAsync("CreateTags", ct => aws.Ec2In(region).CreateTagsAsync(new CreateTagsRequest { Resources = snapshots, Tags = Ec2Tags.ToEc2(tags) }, ct), cancellationToken);
        }
    }

    private async Task<Image> WaitAvailableAsync(string region, string imageId, CancellationToken cancellationToken)
    {
        Image? image = null;
        var available = await Wait.UntilAsync(
            async ct =>
            {
                var response = await aws.Calls.RunAsync("DescribeImages", c => aws.Ec2In(region).DescribeImagesAsync(new DescribeImagesRequest { ImageIds = [imageId] }, c), ct);
                image = response.Images?.FirstOrDefault();
                return image?.State?.Value switch
                {
                    "available" => true,
                    "failed" or "invalid" or "deregistered" or "error" => throw new ImmutableBuildException(AwsErrors.BakeCode, $"AMI {imageId} in {region} ended {image.State.Value}: {image.StateReason?.Message ?? "no reason given"}."),
                    _ => false,
                };
            },
            ImageTimeout,
            options.PollInterval,
            options.Time,
            cancellationToken);
        return available && image is not null
            ? image
            : throw new ImmutableBuildException(AwsErrors.BakeCode, $"AMI {imageId} in {region} was not available after {ImageTimeout.TotalMinutes:0} minutes.");
    }

    private async Task WaitStateAsync(string instanceId, string state, TimeSpan timeout, CancellationToken cancellationToken)
    {
        string? last = null;
        var reached = await Wait.UntilAsync(
            async ct =>
            {
                var response = await aws.Calls.RunAsync("DescribeInstances", c => aws.Ec2.DescribeInstancesAsync(new DescribeInstancesRequest { InstanceIds = [instanceId] }, c), ct);
                last = response.Reservations?.SelectMany(r => r.Instances ?? []).FirstOrDefault()?.State?.Name?.Value;
                return last == state || (last is "terminated" or "shutting-down" ? throw new ImmutableBuildException(AwsErrors.BakeCode, $"Builder {instanceId} was {last} before it was {state}.") : false);
            },
            timeout,
            options.PollInterval,
            options.Time,
            cancellationToken);
        if (!reached)
        {
            throw new ImmutableBuildException(AwsErrors.BakeCode, $"Builder {instanceId} was {last ?? "not found"}, not {state}, after {timeout.TotalSeconds:0}s.");
        }
    }

    private static string Tail(string? output, string? error)
    {
        static string Last(string? text, int lines) => string.Join('\n', (text ?? "").TrimEnd().Split('\n').TakeLast(lines));
        var tail = (Last(output, 20) + (string.IsNullOrWhiteSpace(error) ? "" : "\n" + Last(error, 20))).Trim();
        return tail.Length == 0 ? "" : "\nLast output:\n" + tail;
    }

    /// <summary>Who runs a bake: host, process and start, in the builder's tag.</summary>
    private sealed record BakeOwner(string Host, int Pid, DateTimeOffset Started)
    {
        public static BakeOwner Current(DateTimeOffset now) => new(System.Environment.MachineName, System.Environment.ProcessId, now);

        public static BakeOwner? Parse(string? tag)
        {
            var parts = tag?.Split('/') ?? [];
            return parts.Length == 3 && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) && long.TryParse(parts[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var unix)
                ? new BakeOwner(parts[0], pid, DateTimeOffset.FromUnixTimeSeconds(unix))
                : null;
        }

        /// <summary>Its process on this machine has ended, or it is older than any bake may be.</summary>
        public bool IsGone(DateTimeOffset now, TimeSpan longest)
        {
            if (now - Started > longest)
            {
                return true;
            }

            if (Host != System.Environment.MachineName)
            {
                return false;
            }

            try
            {
                using var process = Process.GetProcessById(Pid);
                return process.HasExited;
            }
            catch (ArgumentException)
            {
                return true;
            }
        }

        public override string ToString() => $"{Host}/{Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)}/{Started.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)}";
    }
}
