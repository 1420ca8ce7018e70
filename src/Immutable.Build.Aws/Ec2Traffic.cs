using System.Net;
using Amazon.EC2.Model;
using Immutable.Build.Aws.Elb;
using Immutable.Build.Targets;

namespace Immutable.Build.Aws;

/// <summary>
/// Where traffic goes, in one of three ways: an ALB listener's weighted forward over the groups' target groups; an
/// Elastic IP on one instance of the serving group; or, with neither, a weight tag on the instances (the record the
/// engine needs, for apps reached some other way). A forward to target groups no rollout made (Terraform's) is taken
/// over by the first switch and never handed back: the groups a rollout creates replace it.
/// </summary>
internal sealed class Ec2Traffic(AwsClients aws, Ec2TargetOptions options, Ec2TargetGroups targetGroups)
{
    /// <summary>Whether traffic goes through a listener.</summary>
    public bool Listener => options.ListenerArn is not null;

    /// <summary>The listener, or IMB8006 when it is missing or not a forward.</summary>
    public async Task<ElbListener> ListenerAsync(CancellationToken cancellationToken)
    {
        var arn = options.ListenerArn!;
        var listener = await aws.Calls.RunAsync("DescribeListeners", ct => aws.Elb.DescribeListenerAsync(arn, ct), cancellationToken)
            ?? throw new ImmutableBuildException(AwsErrors.ListenerCode, $"The listener {arn} ({AwsSettings.ListenerArn}) does not exist in {options.Endpoints.Region}: give the ARN of an Application Load Balancer listener.");
        return listener.DefaultActions.Count == 1 && listener.DefaultActions[0].Type == "forward"
            ? listener
            : throw new ImmutableBuildException(AwsErrors.ListenerCode, $"The listener {arn} ({AwsSettings.ListenerArn}) has default action(s) {string.Join(", ", listener.DefaultActions.Select(a => a.Type))}: the target can only weight a single forward action; make the default action forward to a target group.");
    }

    /// <summary>The VPC of the listener's load balancer, where target groups are created.</summary>
    public async Task<string> VpcAsync(ElbListener listener, CancellationToken cancellationToken)
    {
        var balancer = await aws.Calls.RunAsync("DescribeLoadBalancers", ct => aws.Elb.DescribeLoadBalancerAsync(listener.LoadBalancerArn, ct), cancellationToken);
        return balancer?.VpcId ?? throw new ImmutableBuildException(AwsErrors.ListenerCode, $"The load balancer {listener.LoadBalancerArn} of listener {listener.Arn} was not found, or has no VPC.");
    }

    /// <summary>Adds a new group's target group to the forward at weight 0, so it is health-checked before it takes traffic.</summary>
    public async Task AttachAsync(ElbListener listener, ElbTargetGroup targetGroup, CancellationToken cancellationToken)
    {
        var forward = listener.DefaultActions[0].TargetGroups;
        if (forward.Any(t => t.TargetGroupArn == targetGroup.Arn))
        {
            return;
        }

        var next = forward.Append(new ElbWeightedTargetGroup(targetGroup.Arn, 0)).ToList();
        if (next.Count > Ec2TargetGroups.MaxForwardGroups)
        {
            throw new ImmutableBuildException(AwsErrors.ListenerCode, $"The listener {listener.Arn} would forward to {next.Count} target groups; an ALB forward takes at most {Ec2TargetGroups.MaxForwardGroups}. Use fewer batches (ImmutableBatchSize) or let the previous rollout finish.");
        }

        await ModifyAsync(listener, next, cancellationToken);
    }

    /// <summary>The traffic share per group as the listener, the address or the tags say.</summary>
    public async Task<IReadOnlyDictionary<string, int>> WeightsAsync(DeploymentScope scope, IReadOnlyList<Instance> instances, CancellationToken cancellationToken)
    {
        var groups = instances.Select(i => Ec2Tags.Get(i.Tags, Ec2Tags.Group)).Where(g => g is not null).Select(g => g!).Distinct(StringComparer.Ordinal).ToList();
        var weights = new Dictionary<string, int>(StringComparer.Ordinal);
        if (Listener)
        {
            var listener = await ListenerAsync(cancellationToken);
            var byName = groups.ToDictionary(g => Ec2TargetGroups.NameOf(scope, g), g => g, StringComparer.Ordinal);
            var forward = listener.DefaultActions[0].TargetGroups;
            var total = forward.Sum(t => t.Weight);
            foreach (var t in forward)
            {
                // A target group ARN ends in targetgroup/<name>/<id>.
                var name = t.TargetGroupArn.Split('/') is { Length: >= 3 } parts ? parts[^2] : "";
                if (byName.TryGetValue(name, out var group) && total > 0)
                {
                    weights[group] = (int)Math.Round(t.Weight * 100.0 / total);
                }
            }
        }
        else if (options.ElasticIp is not null)
        {
            var address = await AddressAsync(cancellationToken);
            if (address.InstanceId is { } holder && instances.FirstOrDefault(i => i.InstanceId == holder) is { } instance && Ec2Tags.Get(instance.Tags, Ec2Tags.Group) is { } group)
            {
                weights[group] = 100;
            }
        }
        else
        {
            foreach (var i in instances)
            {
                if (Ec2Tags.Get(i.Tags, Ec2Tags.Group) is { } group && int.TryParse(Ec2Tags.Get(i.Tags, Ec2Tags.Weight), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var w))
                {
                    weights[group] = w;
                }
            }
        }

        return weights;
    }

    /// <summary>Sets the shares: one ModifyListener, one AssociateAddress, or one CreateTags per group.</summary>
    public async Task RouteAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weightsByGroup, IReadOnlyList<Instance> instances, CancellationToken cancellationToken)
    {
        if (Listener)
        {
            var listener = await ListenerAsync(cancellationToken);
            var named = await targetGroups.FindAsync(scope, weightsByGroup.Keys, cancellationToken);
            var missing = weightsByGroup.Where(w => w.Value > 0 && !named.ContainsKey(w.Key)).Select(w => w.Key).ToList();
            if (missing.Count > 0)
            {
                throw new ImmutableBuildException(AwsErrors.CallCode, $"No target group exists for {string.Join(", ", missing)} ({string.Join(", ", missing.Select(g => Ec2TargetGroups.NameOf(scope, g)))}); it was deleted outside a rollout. Deploy again.");
            }

            var ours = named.Values.Select(t => t.Arn).ToHashSet(StringComparer.Ordinal);
            var scopeGroups = await ScopeTargetGroupsAsync(scope, listener, cancellationToken);
            var forward = named.Select(n => new ElbWeightedTargetGroup(n.Value.Arn, weightsByGroup[n.Key])).ToList();

            // Groups of this scope that are attached but not named keep weight 0 (a group still being health-checked);
            // target groups of no rollout are dropped: the listener is taken over.
            forward.AddRange(listener.DefaultActions[0].TargetGroups.Where(t => !ours.Contains(t.TargetGroupArn) && scopeGroups.Contains(t.TargetGroupArn)).Select(t => t with { Weight = 0 }));
            var foreign = listener.DefaultActions[0].TargetGroups.Where(t => !ours.Contains(t.TargetGroupArn) && !scopeGroups.Contains(t.TargetGroupArn)).ToList();
            if (forward.All(t => t.Weight == 0))
            {
                options.Log($"listener {listener.Arn}: no group is given traffic; the forward is left as it is");
                return;
            }

            foreach (var t in foreign)
            {
                options.Log($"listener {listener.Arn}: taking over from target group {t.TargetGroupArn} (not created by a rollout; it is not handed back)");
            }

            await ModifyAsync(listener, forward, cancellationToken);
        }
        else if (options.ElasticIp is not null)
        {
            var serving = weightsByGroup.Where(w => w.Value > 0).ToList();
            if (serving.Count > 1)
            {
                throw AwsErrors.Setting(AwsSettings.ElasticIp, options.ElasticIp, $"an Elastic IP cannot split traffic ({string.Join(", ", serving.Select(s => $"{s.Key}={s.Value}%"))}); use the blue-green strategy, or a listener (ImmutableAwsListenerArn) for canary steps");
            }

            if (serving.Count == 0)
            {
                return;
            }

            var group = serving[0].Key;
            var instance = instances.Where(i => Ec2Tags.Get(i.Tags, Ec2Tags.Group) == group && i.State?.Name?.Value == "running").OrderBy(i => i.InstanceId, StringComparer.Ordinal).FirstOrDefault()
                ?? throw new ImmutableBuildException(AwsErrors.CallCode, $"No running instance of {group} to move the Elastic IP {options.ElasticIp} to.");
            var address = await AddressAsync(cancellationToken);
            if (address.InstanceId == instance.InstanceId)
            {
                return;
            }

            await aws.Calls.RunAsync("AssociateAddress", ct => aws.Ec2.AssociateAddressAsync(new AssociateAddressRequest { AllocationId = address.AllocationId, InstanceId = instance.InstanceId, AllowReassociation = true }, ct), cancellationToken);
            options.Log($"Elastic IP {address.PublicIp} moved to {instance.InstanceId} ({group})");
        }
        else
        {
            foreach (var (group, weight) in weightsByGroup)
            {
                var ids = instances.Where(i => Ec2Tags.Get(i.Tags, Ec2Tags.Group) == group).Select(i => i.InstanceId).ToList();
                foreach (var chunk in ids.Chunk(1000))
                {
                    var value = weight.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    await aws.Calls.RunAsync("CreateTags", ct => aws.Ec2.CreateTagsAsync(new CreateTagsRequest { Resources = [.. chunk], Tags = [new Tag(Ec2Tags.Weight, value)] }, ct), cancellationToken);
                }
            }
        }
    }

    /// <summary>Removes a group's target group from the forward (a target group in use cannot be deleted).</summary>
    public async Task DetachAsync(ElbTargetGroup targetGroup, CancellationToken cancellationToken)
    {
        var listener = await ListenerAsync(cancellationToken);
        var forward = listener.DefaultActions[0].TargetGroups;
        if (!forward.Any(t => t.TargetGroupArn == targetGroup.Arn))
        {
            return;
        }

        var rest = forward.Where(t => t.TargetGroupArn != targetGroup.Arn).ToList();
        if (rest.Count == 0 || rest.All(t => t.Weight == 0))
        {
            throw new ImmutableBuildException(AwsErrors.ListenerCode, $"{targetGroup.Name} is the listener's only serving target group: route traffic to another group before it is removed.");
        }

        await ModifyAsync(listener, rest, cancellationToken);
    }

    /// <summary>The Elastic IP's address record.</summary>
    public async Task<Address> AddressAsync(CancellationToken cancellationToken)
    {
        var eip = options.ElasticIp!;
        var request = IPAddress.TryParse(eip, out _) ? new DescribeAddressesRequest { PublicIps = [eip] } : new DescribeAddressesRequest { AllocationIds = [eip] };
        DescribeAddressesResponse response;
        try
        {
            response = await aws.Calls.RunAsync("DescribeAddresses", ct => aws.Ec2.DescribeAddressesAsync(request, ct), cancellationToken);
        }
        catch (ImmutableBuildException e) when (AwsCall.IsNotFound(e) || AwsCall.CodeOf(e) is "InvalidAllocationID.NotFound" or "InvalidAddress.NotFound" or "AuthFailure")
        {
            throw AwsErrors.Setting(AwsSettings.ElasticIp, eip, $"no such Elastic IP in {options.Endpoints.Region} ({AwsCall.CodeOf(e)})");
        }

        return response.Addresses?.FirstOrDefault() ?? throw AwsErrors.Setting(AwsSettings.ElasticIp, eip, $"no such Elastic IP in {options.Endpoints.Region}");
    }

    private async Task<HashSet<string>> ScopeTargetGroupsAsync(DeploymentScope scope, ElbListener listener, CancellationToken cancellationToken)
    {
        var arns = listener.DefaultActions[0].TargetGroups.Select(t => t.TargetGroupArn).ToList();
        var tags = await aws.Calls.RunAsync("DescribeTags", ct => aws.Elb.DescribeTagsAsync(arns, ct), cancellationToken);
        return tags.Where(t => t.Value.TryGetValue(Ec2Tags.App, out var app) && app == scope.App && t.Value.TryGetValue(Ec2Tags.Environment, out var env) && env == scope.Environment)
            .Select(t => t.Key).ToHashSet(StringComparer.Ordinal);
    }

    private async Task ModifyAsync(ElbListener listener, IReadOnlyList<ElbWeightedTargetGroup> forward, CancellationToken cancellationToken)
    {
        await aws.Calls.RunAsync("ModifyListener", ct => aws.Elb.ModifyListenerForwardAsync(listener.Arn, forward, ct), cancellationToken);
        options.Log($"listener {listener.Arn}: {string.Join(", ", forward.Select(f => $"{f.TargetGroupArn.Split('/')[^2]}={f.Weight}"))}");
    }
}
