using System.Net;
using Amazon.EC2.Model;
using Immutable.Build.Deployments;
using Immutable.Build.Rollout;

namespace Immutable.Build.Aws.Tests;

/// <summary>
/// Rollouts through the deployer and the real EC2 target against moto: instances, launch templates, target groups,
/// the listener's weights and Elastic IPs as EC2 and ELBv2 keep them. moto runs nothing on its instances, so health
/// is what the target reads from EC2 and ELBv2 (moto reports registered running targets healthy); the failing gate
/// is a direct health check mapped to a loopback server that answers 503.
/// </summary>
[Collection("moto")]
public sealed class Ec2RolloutTests(MotoFixture moto)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Blue_green_of_three_instances_moves_the_listener_to_v2_then_terminates_v1_and_deletes_its_target_group()
    {
        await moto.ResetAsync();
        using var s = new Ec2Scenario(moto, "bluegreen");
        var (_, foreign) = await s.LoadBalancerAsync();
        var options = new RolloutOptions { Replicas = 3, KeepOldFor = TimeSpan.FromMilliseconds(300) };

        var first = await s.DeployAsync(1, options);
        Assert.True(first.Succeeded, first.Reason);
        var v1 = await s.InstancesAsync();
        Assert.Equal(3, v1.Count);
        var v1Group = Ec2Scenario.Tag(v1[0], "immutable.group")!;
        Assert.All(v1, i =>
        {
            Assert.Equal("running", i.State.Name.Value);
            Assert.Equal(s.Release(1).ReleaseId, Ec2Scenario.Tag(i, "immutable.release"));
            Assert.Equal(s.Release(1).ImageDigest, Ec2Scenario.Tag(i, "immutable.image-digest"));
            Assert.Equal("true", Ec2Scenario.Tag(i, "immutable.managed"));
            Assert.Equal(v1Group, Ec2Scenario.Tag(i, "immutable.group"));
        });

        // The listener Terraform made forwarded to its own target group: the first rollout took it over.
        var afterFirst = await s.ForwardAsync();
        Assert.Equal(100, afterFirst[Ec2TargetGroups.NameOf(s.Scope, v1Group)]);
        Assert.DoesNotContain(foreign.Split('/')[^2], afterFirst.Keys);
        Assert.Contains(s.Lines, l => l.Contains("taking over from target group", StringComparison.Ordinal));

        var second = await s.DeployAsync(2, options);
        Assert.True(second.Succeeded, second.Reason);
        var v2 = await s.InstancesAsync();
        Assert.Equal(3, v2.Count);
        Assert.All(v2, i => Assert.Equal(s.Release(2).ReleaseId, Ec2Scenario.Tag(i, "immutable.release")));
        var v2Group = Ec2Scenario.Tag(v2[0], "immutable.group")!;
        Assert.Equal(new Dictionary<string, int> { [Ec2TargetGroups.NameOf(s.Scope, v2Group)] = 100 }, await s.ForwardAsync());

        // v1's instances are terminated and its target group is gone.
        var terminated = await s.InstancesAsync("terminated", "shutting-down");
        Assert.Equal(v1.Select(i => i.InstanceId).Order(), terminated.Where(i => Ec2Scenario.Tag(i, "immutable.group") == v1Group).Select(i => i.InstanceId).Order());
        Assert.Empty(await s.Elb.DescribeTargetGroupsByNameAsync([Ec2TargetGroups.NameOf(s.Scope, v1Group)], Ct));
        var health = await s.Elb.DescribeTargetHealthAsync((await s.Elb.DescribeTargetGroupsByNameAsync([Ec2TargetGroups.NameOf(s.Scope, v2Group)], Ct))[0].Arn, Ct);
        Assert.Equal(v2.Select(i => i.InstanceId).Order(), health.Select(h => h.Id).Order());

        // Each release has its own complete launch template version.
        var templates = await s.Ec2.DescribeLaunchTemplatesAsync(new DescribeLaunchTemplatesRequest { Filters = [new Filter("tag:immutable.app", [s.App])] }, Ct);
        var template = Assert.Single(templates.LaunchTemplates);
        var versions = (await s.Ec2.DescribeLaunchTemplateVersionsAsync(new DescribeLaunchTemplateVersionsRequest { LaunchTemplateId = template.LaunchTemplateId }, Ct)).LaunchTemplateVersions;
        Assert.Equal(2, versions.Count);
        Assert.All(versions, v =>
        {
            Assert.False(string.IsNullOrEmpty(v.LaunchTemplateData.ImageId));
            Assert.Equal("t3.micro", v.LaunchTemplateData.InstanceType.Value);
            Assert.False(string.IsNullOrEmpty(v.LaunchTemplateData.UserData));
        });
        s.AssertNoSecret(first.Report, second.Report);
    }

    [Fact]
    public async Task A_failed_health_gate_terminates_the_new_group_and_leaves_v1_serving()
    {
        await moto.ResetAsync();
        using var s = new Ec2Scenario(moto, "failgate");
        await s.LoadBalancerAsync();
        s.Settings[AwsSettings.DirectHealthChecks] = "true";
        using var healthy = new LoopbackAnswer(HttpStatusCode.OK);
        using var failing = new LoopbackAnswer(HttpStatusCode.ServiceUnavailable);
        s.InstanceUrl = _ => healthy.Url;
        var gated = s.Options(new RolloutOptions { Replicas = 2 }) with { HealthTimeout = TimeSpan.FromSeconds(2), CheckReleaseIdentity = ReleaseIdentityCheck.Off };
        var first = await Deployer.DeployAsync(gated, s.Release(1), s.Log, Ct);
        Assert.True(first.Succeeded, first.Reason);
        Assert.True(healthy.Requests > 0, "the direct health check never ran");
        var v1 = await s.InstancesAsync();

        s.InstanceUrl = _ => failing.Url;
        var second = await Deployer.DeployAsync(gated, s.Release(2), s.Log, Ct);

        Assert.False(second.Succeeded);
        Assert.True(failing.Requests > 0);
        var running = await s.InstancesAsync();
        Assert.Equal(v1.Select(i => i.InstanceId).Order(), running.Select(i => i.InstanceId).Order());
        var v1Group = Ec2Scenario.Tag(v1[0], "immutable.group")!;
        Assert.Equal(new Dictionary<string, int> { [Ec2TargetGroups.NameOf(s.Scope, v1Group)] = 100 }, await s.ForwardAsync());
        var failed = (await s.InstancesAsync("terminated", "shutting-down")).Where(i => Ec2Scenario.Tag(i, "immutable.release") == s.Release(2).ReleaseId).ToList();
        Assert.Equal(2, failed.Count);
        var failedGroup = Ec2Scenario.Tag(failed[0], "immutable.group")!;
        Assert.Empty(await s.Elb.DescribeTargetGroupsByNameAsync([Ec2TargetGroups.NameOf(s.Scope, failedGroup)], Ct));
        s.AssertNoSecret(second.Report, second.Reason ?? "");
    }

    [Fact]
    public async Task A_canary_sets_the_listener_weights_10_50_100_in_order()
    {
        await moto.ResetAsync();
        using var s = new Ec2Scenario(moto, "canary");
        await s.LoadBalancerAsync();
        Assert.True((await s.DeployAsync(1)).Succeeded);
        s.Lines.Clear();

        var result = await s.DeployAsync(2, new RolloutOptions { Kind = RolloutKind.Canary, Replicas = 1, CanarySteps = [10, 50, 100] });

        Assert.True(result.Succeeded, result.Reason);
        var v2Group = Ec2Scenario.Tag((await s.InstancesAsync()).Single(), "immutable.group")!;
        var name = Ec2TargetGroups.NameOf(s.Scope, v2Group);
        var weights = s.Lines.Where(l => l.StartsWith("listener ", StringComparison.Ordinal) && l.Contains(name + "=", StringComparison.Ordinal))
            .Select(l => int.Parse(l[(l.IndexOf(name + "=", StringComparison.Ordinal) + name.Length + 1)..].Split(',')[0], System.Globalization.CultureInfo.InvariantCulture))
            .ToList();

        // The old group's removal from the forward repeats the last share; a repeat is no step.
        Assert.Equal([0, 10, 50, 100], weights.Where((w, i) => i == 0 || weights[i - 1] != w));
        Assert.Equal(new Dictionary<string, int> { [name] = 100 }, await s.ForwardAsync());
    }

    [Fact]
    public async Task A_single_instance_with_an_Elastic_IP_moves_the_address_to_the_new_instance_and_terminates_the_old()
    {
        await moto.ResetAsync();
        using var s = new Ec2Scenario(moto, "eip");
        var allocation = await s.Ec2.AllocateAddressAsync(new AllocateAddressRequest { Domain = "vpc" }, Ct);
        s.Settings[AwsSettings.ElasticIp] = allocation.AllocationId;

        Assert.True((await s.DeployAsync(1)).Succeeded);
        var old = (await s.InstancesAsync()).Single();
        Assert.Equal(old.InstanceId, await HolderAsync());

        Assert.True((await s.DeployAsync(2)).Succeeded);
        var current = (await s.InstancesAsync()).Single();
        Assert.NotEqual(old.InstanceId, current.InstanceId);
        Assert.Equal(s.Release(2).ReleaseId, Ec2Scenario.Tag(current, "immutable.release"));
        Assert.Equal(current.InstanceId, await HolderAsync());
        Assert.Contains(old.InstanceId, (await s.InstancesAsync("terminated", "shutting-down")).Select(i => i.InstanceId));

        async Task<string> HolderAsync() =>
            (await s.Ec2.DescribeAddressesAsync(new DescribeAddressesRequest { AllocationIds = [allocation.AllocationId] }, Ct)).Addresses[0].InstanceId;
    }

    [Fact]
    public async Task A_rollout_makes_as_many_calls_for_thirty_instances_as_for_three()
    {
        await moto.ResetAsync();
        using var s = new Ec2Scenario(moto, "calls");
        await s.LoadBalancerAsync();
        var counts = new List<int>();
        var n = 0;
        foreach (var replicas in new[] { 3, 30 })
        {
            Assert.True((await s.DeployAsync(++n, new RolloutOptions { Replicas = replicas })).Succeeded);
            s.Calls.Reset();
            var result = await s.DeployAsync(++n, new RolloutOptions { Replicas = replicas });
            Assert.True(result.Succeeded, result.Reason);
            counts.Add(s.Calls.Total);
        }

        // Polls can differ by a few; a call per instance would add 27 or more.
        Assert.InRange(counts[1], counts[0] - 5, counts[0] + 5);
    }

    [Fact]
    public async Task Bad_settings_fail_with_their_code_before_anything_launches()
    {
        await moto.ResetAsync();
        using var s = new Ec2Scenario(moto, "badsettings");
        s.Settings[AwsSettings.ListenerArn] = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/none/0123456789abcdef/0123456789abcdef";
        var missing = await Assert.ThrowsAsync<ImmutableBuildException>(() => s.DeployAsync(1));
        Assert.Equal("IMB8006", missing.Code);

        s.Settings.Remove(AwsSettings.ListenerArn);
        s.Settings[AwsSettings.BaseAmi] = "ami-0000000000000bad";
        var ami = await Assert.ThrowsAsync<ImmutableBuildException>(() => s.DeployAsync(1));
        Assert.Equal("IMB8001", ami.Code);

        s.Settings[AwsSettings.BaseAmi] = "ubuntu";
        Assert.Equal("IMB8001", (await Assert.ThrowsAsync<ImmutableBuildException>(() => s.DeployAsync(1))).Code);
        s.Settings.Remove(AwsSettings.BaseAmi);
        s.Settings[AwsSettings.Subnets] = "subnet-1;vpc-2";
        Assert.Equal("IMB8001", (await Assert.ThrowsAsync<ImmutableBuildException>(() => s.DeployAsync(1))).Code);

        Assert.Empty(await s.InstancesAsync());
        s.AssertNoSecret(missing.Message, ami.Message);
    }
}
