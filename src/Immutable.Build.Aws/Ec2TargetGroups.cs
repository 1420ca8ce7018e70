using System.Security.Cryptography;
using System.Text;
using Immutable.Build.Aws.Elb;
using Immutable.Build.Targets;

namespace Immutable.Build.Aws;

/// <summary>
/// One target group per release group, named from a hash of scope and group (a target group name holds at most 32
/// characters), tagged with the group. It is attached to the listener at weight 0 from its launch on: a target group
/// no listener uses is not health-checked, so the new group could never become healthy before it takes traffic.
/// </summary>
internal sealed class Ec2TargetGroups(AwsClients aws, Ec2TargetOptions options)
{
    /// <summary>An ALB forward action takes at most this many target groups.</summary>
    public const int MaxForwardGroups = 5;

    /// <summary>imb- and 24 hex characters of SHA-256(scope key / group).</summary>
    public static string NameOf(DeploymentScope scope, string group) =>
        "imb-" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(scope.Key + "/" + group))).ToLowerInvariant()[..24];

    /// <summary>The target groups of these groups that exist, by group.</summary>
    public async Task<IReadOnlyDictionary<string, ElbTargetGroup>> FindAsync(DeploymentScope scope, IEnumerable<string> groups, CancellationToken cancellationToken)
    {
        var byName = groups.Distinct(StringComparer.Ordinal).ToDictionary(g => NameOf(scope, g), g => g, StringComparer.Ordinal);
        if (byName.Count == 0)
        {
            return new Dictionary<string, ElbTargetGroup>(StringComparer.Ordinal);
        }

        var found = new Dictionary<string, ElbTargetGroup>(StringComparer.Ordinal);
        foreach (var chunk in byName.Keys.Chunk(20))
        {
            var page = await aws.Calls.RunAsync("DescribeTargetGroups", ct => aws.Elb.DescribeTargetGroupsByNameAsync(chunk, ct), cancellationToken);
            foreach (var tg in page)
            {
                found[byName[tg.Name]] = tg;
            }
        }

        return found;
    }

    /// <summary>Creates the group's target group in the listener's VPC (or finds it, after a retried launch).</summary>
    public async Task<ElbTargetGroup> CreateAsync(DeploymentScope scope, ReleaseRef release, string group, string vpcId, CancellationToken cancellationToken)
    {
        var tags = Ec2Tags.For(scope, release);
        tags[Ec2Tags.Group] = group;
        var name = NameOf(scope, group);
        var created = await aws.Calls.RunAsync("CreateTargetGroup", ct => aws.Elb.CreateTargetGroupAsync(name, vpcId, options.AppPort, options.HealthCheckPath, tags, ct), cancellationToken);
        options.Log($"target group {name} for {group} ({created.Arn})");
        return created;
    }

    /// <summary>Registers instances in one call.</summary>
    public Task RegisterAsync(ElbTargetGroup targetGroup, IReadOnlyCollection<string> instanceIds, CancellationToken cancellationToken) =>
        aws.Calls.RunAsync("RegisterTargets", ct => aws.Elb.RegisterTargetsAsync(targetGroup.Arn, instanceIds, ct), cancellationToken);

    /// <summary>Each registered instance's health state.</summary>
    public async Task<IReadOnlyDictionary<string, ElbTargetHealth>> HealthAsync(ElbTargetGroup targetGroup, CancellationToken cancellationToken) =>
        (await aws.Calls.RunAsync("DescribeTargetHealth", ct => aws.Elb.DescribeTargetHealthAsync(targetGroup.Arn, ct), cancellationToken))
            .GroupBy(h => h.Id, StringComparer.Ordinal).ToDictionary(h => h.Key, h => h.First(), StringComparer.Ordinal);

    /// <summary>
    /// Deregisters the instances, then waits while any is still draining, up to the group's deregistration delay
    /// (AWS ends draining then, or earlier when the connections have closed); then deletes the target group.
    /// </summary>
    public async Task RetireAsync(ElbTargetGroup targetGroup, IReadOnlyCollection<string> instanceIds, CancellationToken cancellationToken)
    {
        if (instanceIds.Count > 0)
        {
            await aws.Calls.RunAsync("DeregisterTargets", ct => aws.Elb.DeregisterTargetsAsync(targetGroup.Arn, instanceIds, ct), cancellationToken);
            var attributes = await aws.Calls.RunAsync("DescribeTargetGroupAttributes", ct => aws.Elb.DescribeTargetGroupAttributesAsync(targetGroup.Arn, ct), cancellationToken);
            var delay = attributes.TryGetValue("deregistration_delay.timeout_seconds", out var text) && int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
                ? TimeSpan.FromSeconds(seconds)
                : TimeSpan.FromSeconds(300);
            await Wait.UntilAsync(
                async ct => !(await HealthAsync(targetGroup, ct)).Values.Any(h => h.State == "draining"),
                delay,
                options.PollInterval,
                options.Time,
                cancellationToken);
        }

        await aws.Calls.RunAsync("DeleteTargetGroup", ct => aws.Elb.DeleteTargetGroupAsync(targetGroup.Arn, ct), cancellationToken);
        options.Log($"deleted target group {targetGroup.Name}");
    }
}
