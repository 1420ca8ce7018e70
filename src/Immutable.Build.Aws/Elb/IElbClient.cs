namespace Immutable.Build.Aws.Elb;

/// <summary>
/// The Elastic Load Balancing v2 calls the EC2 target makes, and no more. AWSSDK.ElasticLoadBalancingV2 is not
/// available to this build, so <see cref="ElbQueryClient"/> speaks the Query API itself; a client over the official
/// package can implement this interface instead, and nothing else in the target changes.
/// </summary>
public interface IElbClient
{
    /// <summary>Creates an HTTP target group of instances in <paramref name="vpcId"/> with the given tags; returns it.</summary>
    Task<ElbTargetGroup> CreateTargetGroupAsync(string name, string vpcId, int port, string healthCheckPath, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken);

    /// <summary>The target groups with these ARNs (missing ones are left out, not an error).</summary>
    Task<IReadOnlyList<ElbTargetGroup>> DescribeTargetGroupsAsync(IReadOnlyCollection<string> arns, CancellationToken cancellationToken);

    /// <summary>The target groups with these names (missing ones are left out, not an error).</summary>
    Task<IReadOnlyList<ElbTargetGroup>> DescribeTargetGroupsByNameAsync(IReadOnlyCollection<string> names, CancellationToken cancellationToken);

    /// <summary>Deletes a target group; a missing one is not an error.</summary>
    Task DeleteTargetGroupAsync(string arn, CancellationToken cancellationToken);

    /// <summary>Registers instances (on the group's port) in one call.</summary>
    Task RegisterTargetsAsync(string targetGroupArn, IReadOnlyCollection<string> instanceIds, CancellationToken cancellationToken);

    /// <summary>Deregisters instances in one call.</summary>
    Task DeregisterTargetsAsync(string targetGroupArn, IReadOnlyCollection<string> instanceIds, CancellationToken cancellationToken);

    /// <summary>The health of every target of a group.</summary>
    Task<IReadOnlyList<ElbTargetHealth>> DescribeTargetHealthAsync(string targetGroupArn, CancellationToken cancellationToken);

    /// <summary>A listener with its default actions, or null when it does not exist.</summary>
    Task<ElbListener?> DescribeListenerAsync(string listenerArn, CancellationToken cancellationToken);

    /// <summary>Makes the listener's default action one forward to these groups with these weights (0-999).</summary>
    Task ModifyListenerForwardAsync(string listenerArn, IReadOnlyList<ElbWeightedTargetGroup> targetGroups, CancellationToken cancellationToken);

    /// <summary>A load balancer, or null when it does not exist.</summary>
    Task<ElbLoadBalancer?> DescribeLoadBalancerAsync(string loadBalancerArn, CancellationToken cancellationToken);

    /// <summary>A target group's attributes (deregistration_delay.timeout_seconds among them).</summary>
    Task<IReadOnlyDictionary<string, string>> DescribeTargetGroupAttributesAsync(string targetGroupArn, CancellationToken cancellationToken);

    /// <summary>Sets target group attributes.</summary>
    Task ModifyTargetGroupAttributesAsync(string targetGroupArn, IReadOnlyDictionary<string, string> attributes, CancellationToken cancellationToken);

    /// <summary>The tags of each resource (up to 20 ARNs per call; more are paged by the client).</summary>
    Task<IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>> DescribeTagsAsync(IReadOnlyCollection<string> arns, CancellationToken cancellationToken);
}

/// <summary>A target group.</summary>
public sealed record ElbTargetGroup(string Arn, string Name, int Port, string? VpcId, IReadOnlyList<string> LoadBalancerArns);

/// <summary>One target's health: state is initial, healthy, unhealthy, unused, draining or unavailable.</summary>
public sealed record ElbTargetHealth(string Id, int? Port, string State, string? Reason, string? Description);

/// <summary>A target group in a weighted forward.</summary>
public sealed record ElbWeightedTargetGroup(string TargetGroupArn, int Weight);

/// <summary>One of a listener's default actions: its type, and for a forward the weighted groups (a plain TargetGroupArn forward is one group of weight 1).</summary>
public sealed record ElbAction(string Type, IReadOnlyList<ElbWeightedTargetGroup> TargetGroups);

/// <summary>A listener.</summary>
public sealed record ElbListener(string Arn, string LoadBalancerArn, int Port, string Protocol, IReadOnlyList<ElbAction> DefaultActions);

/// <summary>A load balancer.</summary>
public sealed record ElbLoadBalancer(string Arn, string Name, string? DnsName, string? VpcId);
