using System.Security.Cryptography;
using System.Text;
using Amazon.EC2.Model;
using Immutable.Build.Targets;

namespace Immutable.Build.Aws;

/// <summary>
/// The app's instances: launched one call per subnet per group (EC2 starts MinCount..MaxCount instances in one
/// call), listed by tag filters in one paged call, and terminated in one call per thousand. No call is made per
/// instance, so a rollout's calls grow with its batches, not with its size.
/// </summary>
internal sealed class Ec2Instances(AwsClients aws, Ec2TargetOptions options)
{
    /// <summary>States of instances that exist for a rollout (terminated and shutting-down ones are gone).</summary>
    private static readonly List<string> LiveStates = ["pending", "running", "stopping", "stopped"];

    /// <summary>The scope's live instances (or one group's), app instances only: builders are not part of what runs.</summary>
    public async Task<IReadOnlyList<Instance>> ListAsync(DeploymentScope scope, string? group, CancellationToken cancellationToken)
    {
        var filters = Ec2Tags.ScopeFilters(scope);
        filters.Add(new Filter("instance-state-name", LiveStates));
        if (group is not null)
        {
            filters.Add(new Filter("tag:" + Ec2Tags.Group, [group]));
        }

        var instances = new List<Instance>();
        string? next = null;
        do
        {
            var token = next;
            var page = await aws.Calls.RunAsync("DescribeInstances", ct => aws.Ec2.DescribeInstancesAsync(new DescribeInstancesRequest { Filters = filters, MaxResults = 1000, NextToken = token }, ct), cancellationToken);
            instances.AddRange((page.Reservations ?? []).SelectMany(r => r.Instances ?? []));
            next = page.NextToken;
        }
        while (!string.IsNullOrEmpty(next));
        return instances.Where(i => Ec2Tags.Get(i.Tags, Ec2Tags.Role) != Ec2Tags.BuilderRole).ToList();
    }

    /// <summary>Instance status checks of running instances (EC2 takes at most 100 ids per call).</summary>
    public async Task<IReadOnlyDictionary<string, InstanceStatus>> StatusAsync(IEnumerable<string> runningIds, CancellationToken cancellationToken)
    {
        var statuses = new Dictionary<string, InstanceStatus>(StringComparer.Ordinal);
        foreach (var chunk in runningIds.Chunk(100))
        {
            var page = await aws.Calls.RunAsync("DescribeInstanceStatus", ct => aws.Ec2.DescribeInstanceStatusAsync(new DescribeInstanceStatusRequest { InstanceIds = [.. chunk], IncludeAllInstances = true }, ct), cancellationToken);
            foreach (var s in page.InstanceStatuses ?? [])
            {
                statuses[s.InstanceId] = s;
            }
        }

        return statuses;
    }

    /// <summary>
    /// Launches <paramref name="count"/> instances of the launch template version, spread evenly over the subnets, all
    /// tagged at creation (so a launch cut off halfway leaves only instances a rollback finds by tag). The client token
    /// makes a retried call after a lost answer return the first call's instances instead of launching twice.
    /// </summary>
    public async Task<IReadOnlyList<Instance>> RunAsync(LaunchTemplateVersionRef template, int count, IReadOnlyDictionary<string, string> tags, string tokenSeed, CancellationToken cancellationToken)
    {
        var subnets = options.Subnets.Count == 0 ? [null] : options.Subnets.Cast<string?>().ToList();
        var launched = new List<Instance>();
        for (var s = 0; s < subnets.Count; s++)
        {
            var share = count / subnets.Count + (s < count % subnets.Count ? 1 : 0);
            if (share == 0)
            {
                continue;
            }

            var request = new RunInstancesRequest
            {
                LaunchTemplate = new LaunchTemplateSpecification { LaunchTemplateId = template.TemplateId, Version = template.Version.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                MinCount = share,
                MaxCount = share,
                TagSpecifications = [Ec2Tags.Spec("instance", tags), Ec2Tags.Spec("volume", tags)],
                ClientToken = Token($"{tokenSeed}/{subnets[s]}/{share}/{template.TemplateId}/{template.Version}"),
            };
            if (subnets[s] is { } subnet)
            {
                request.SubnetId = subnet;
            }

            var response = await aws.Calls.RunAsync("RunInstances", ct => aws.Ec2.RunInstancesAsync(request, ct), cancellationToken);
            launched.AddRange(response.Reservation?.Instances ?? []);
        }

        return launched;
    }

    /// <summary>Terminates instances (one call per thousand).</summary>
    public async Task TerminateAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        foreach (var chunk in ids.Chunk(1000))
        {
            await aws.Calls.RunAsync("TerminateInstances", ct => aws.Ec2.TerminateInstancesAsync(new TerminateInstancesRequest { InstanceIds = [.. chunk] }, ct), cancellationToken);
        }
    }

    /// <summary>Waits until every instance of the group runs (one listing per poll), or fails naming the ones that did not.</summary>
    public async Task<IReadOnlyList<Instance>> WaitRunningAsync(DeploymentScope scope, string group, int expected, CancellationToken cancellationToken)
    {
        IReadOnlyList<Instance> current = [];
        var done = await Wait.UntilAsync(
            async ct =>
            {
                current = await ListAsync(scope, group, ct);
                if (current.FirstOrDefault(i => i.State?.Name?.Value is "stopping" or "stopped") is { } dead)
                {
                    throw new ImmutableBuildException(AwsErrors.CallCode, $"Instance {dead.InstanceId} of {group} is {dead.State?.Name?.Value} ({dead.StateReason?.Message ?? dead.StateTransitionReason ?? "no reason given"}).");
                }

                return current.Count >= expected && current.All(i => i.State?.Name?.Value == "running");
            },
            options.StartTimeout,
            options.PollInterval,
            options.Time,
            cancellationToken);
        return done
            ? current
            : throw new ImmutableBuildException(AwsErrors.CallCode, $"{group}: {current.Count(i => i.State?.Name?.Value == "running")}/{expected} instance(s) running after {options.StartTimeout.TotalSeconds:0}s ({string.Join(", ", current.GroupBy(i => i.State?.Name?.Value).Select(g => $"{g.Count()} {g.Key}"))}).");
    }

    private static string Token(string seed) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(seed))).ToLowerInvariant()[..48];
}
