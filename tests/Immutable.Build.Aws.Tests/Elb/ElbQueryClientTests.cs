using System.Globalization;
using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Immutable.Build.Aws.Elb;

namespace Immutable.Build.Aws.Tests.Elb;

/// <summary>The ELBv2 Query client against moto's server: real requests, real signing, real XML answers.</summary>
[Collection("moto")]
public sealed class ElbQueryClientTests(MotoFixture fixture) : IDisposable
{
    private readonly LoopbackOnly _handler = new();
    private ElbQueryClient? _client;
    private AmazonEC2Client? _ec2;

    private string Secret => fixture.Credentials["AWS_SECRET_ACCESS_KEY"]!;

    private ElbQueryClient Client => _client ??= new ElbQueryClient(new ElbClientOptions
    {
        Endpoint = fixture.Url,
        Region = MotoFixture.Region,
        Credentials = () => new ImmutableCredentials(fixture.Credentials["AWS_ACCESS_KEY_ID"], Secret, null),
        WrapHandler = inner =>
        {
            _handler.InnerHandler = inner;
            return _handler;
        },
    });

    private AmazonEC2Client Ec2 => _ec2 ??= new AmazonEC2Client(
        new BasicAWSCredentials(fixture.Credentials["AWS_ACCESS_KEY_ID"], Secret),
        new AmazonEC2Config { ServiceURL = fixture.Url.ToString(), AuthenticationRegion = MotoFixture.Region });

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _client?.Dispose();
        _ec2?.Dispose();
        Assert.All(_handler.Authorizations, a => Assert.DoesNotContain(Secret, a, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_target_group_is_created_with_its_tags_and_found_by_name_and_by_arn()
    {
        await fixture.ResetAsync();
        var vpc = await DefaultVpcAsync();
        var tags = new Dictionary<string, string> { ["immutable:app"] = "demo", ["immutable:release"] = "r1" };

        var group = await Client.CreateTargetGroupAsync("elb-demo-blue", vpc, 8080, "/healthz", tags, Ct);

        Assert.StartsWith("arn:aws:elasticloadbalancing:us-east-1:", group.Arn, StringComparison.Ordinal);
        Assert.Equal("elb-demo-blue", group.Name);
        Assert.Equal(8080, group.Port);
        Assert.Equal(vpc, group.VpcId);
        Assert.Empty(group.LoadBalancerArns);

        var byName = Assert.Single(await Client.DescribeTargetGroupsByNameAsync(["elb-demo-blue"], Ct));
        Assert.Equal(group.Arn, byName.Arn);
        var byArn = Assert.Single(await Client.DescribeTargetGroupsAsync([group.Arn], Ct));
        Assert.Equal("elb-demo-blue", byArn.Name);

        var tagged = await Client.DescribeTagsAsync([group.Arn], Ct);
        Assert.Equal(tags, tagged[group.Arn]);
    }

    [Fact]
    public async Task Missing_target_groups_are_left_out_not_an_error()
    {
        await fixture.ResetAsync();
        var group = await Client.CreateTargetGroupAsync("elb-present", await DefaultVpcAsync(), 80, "/", new Dictionary<string, string>(), Ct);
        var missing = group.Arn.Replace("elb-present", "elb-missing", StringComparison.Ordinal)[..^4] + "abcd";

        var byArn = await Client.DescribeTargetGroupsAsync([missing, group.Arn], Ct);
        Assert.Equal(group.Arn, Assert.Single(byArn).Arn);
        Assert.Empty(await Client.DescribeTargetGroupsAsync([missing], Ct));

        var byName = await Client.DescribeTargetGroupsByNameAsync(["elb-present", "elb-nowhere"], Ct);
        Assert.Equal(group.Arn, Assert.Single(byName).Arn);
        Assert.Empty(await Client.DescribeTargetGroupsByNameAsync(["elb-nowhere"], Ct));
        Assert.Empty(await Client.DescribeTargetGroupsAsync([], Ct));
    }

    [Fact]
    public async Task Tags_of_more_than_twenty_resources_are_asked_for_in_pages()
    {
        await fixture.ResetAsync();
        var vpc = await DefaultVpcAsync();
        var arns = new List<string>();
        for (var i = 0; i < 23; i++)
        {
            var name = "elb-many-" + i.ToString(CultureInfo.InvariantCulture);
            arns.Add((await Client.CreateTargetGroupAsync(name, vpc, 80, "/", new Dictionary<string, string> { ["n"] = name }, Ct)).Arn);
        }

        var before = _handler.Count;
        var tags = await Client.DescribeTagsAsync(arns, Ct);

        Assert.Equal(2, _handler.Count - before);
        Assert.Equal(23, tags.Count);
        Assert.Equal("elb-many-22", tags[arns[22]]["n"]);
    }

    [Fact]
    public async Task A_listener_forward_is_read_and_its_weights_are_changed()
    {
        await fixture.ResetAsync();
        var vpc = await DefaultVpcAsync();
        var blue = await Client.CreateTargetGroupAsync("elb-blue", vpc, 80, "/", new Dictionary<string, string>(), Ct);
        var green = await Client.CreateTargetGroupAsync("elb-green", vpc, 80, "/", new Dictionary<string, string>(), Ct);
        var (balancerArn, listenerArn) = await LoadBalancerWithListenerAsync(vpc, blue.Arn);

        var balancer = await Client.DescribeLoadBalancerAsync(balancerArn, Ct);
        Assert.NotNull(balancer);
        Assert.Equal("elb-alb", balancer.Name);
        Assert.Equal(vpc, balancer.VpcId);
        Assert.False(string.IsNullOrEmpty(balancer.DnsName));

        var listener = await Client.DescribeListenerAsync(listenerArn, Ct);
        Assert.NotNull(listener);
        Assert.Equal(balancerArn, listener.LoadBalancerArn);
        Assert.Equal(80, listener.Port);
        Assert.Equal("HTTP", listener.Protocol);
        var forward = Assert.Single(listener.DefaultActions);
        Assert.Equal("forward", forward.Type);
        Assert.Equal(blue.Arn, Assert.Single(forward.TargetGroups).TargetGroupArn);

        await Client.ModifyListenerForwardAsync(listenerArn, [new(blue.Arn, 10), new(green.Arn, 90)], Ct);

        var shifted = Assert.Single((await Client.DescribeListenerAsync(listenerArn, Ct))!.DefaultActions);
        TestContext.Current.SendDiagnosticMessage("moto's weighted forward: " + string.Join(", ", shifted.TargetGroups));
        Assert.Equal("forward", shifted.Type);
        Assert.Equal(
            new[] { (blue.Arn, 10), (green.Arn, 90) }.OrderBy(g => g.Item1, StringComparer.Ordinal),
            shifted.TargetGroups.Select(g => (g.TargetGroupArn, g.Weight)).OrderBy(g => g.Item1, StringComparer.Ordinal));
    }

    [Fact]
    public async Task Unknown_listeners_and_load_balancers_are_null()
    {
        await fixture.ResetAsync();
        Assert.Null(await Client.DescribeListenerAsync("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/nope/0123456789abcdef/0123456789abcdef", Ct));
        Assert.Null(await Client.DescribeLoadBalancerAsync("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/nope/0123456789abcdef", Ct));
    }

    [Fact]
    public async Task Instances_are_registered_their_health_is_read_and_they_are_deregistered()
    {
        await fixture.ResetAsync();
        var vpc = await DefaultVpcAsync();
        var group = await Client.CreateTargetGroupAsync("elb-targets", vpc, 8080, "/healthz", new Dictionary<string, string>(), Ct);
        var instances = await RunInstancesAsync(2);

        await Client.RegisterTargetsAsync(group.Arn, instances, Ct);
        var health = await Client.DescribeTargetHealthAsync(group.Arn, Ct);
        TestContext.Current.SendDiagnosticMessage("moto's target health after registering: " + string.Join(", ", health));
        Assert.Equal(instances.Order(StringComparer.Ordinal), health.Select(h => h.Id).Order(StringComparer.Ordinal));
        Assert.All(health, h => Assert.Equal(8080, h.Port));
        Assert.All(health, h => Assert.Contains(h.State, new[] { "initial", "healthy", "unhealthy", "unused", "draining", "unavailable" }));

        await Client.DeregisterTargetsAsync(group.Arn, [instances[0]], Ct);
        var left = await Client.DescribeTargetHealthAsync(group.Arn, Ct);
        TestContext.Current.SendDiagnosticMessage("moto's target health after deregistering one: " + string.Join(", ", left));
        Assert.DoesNotContain(left, h => h.Id == instances[0] && h.State != "draining");
        Assert.Contains(left, h => h.Id == instances[1]);

        await Client.RegisterTargetsAsync(group.Arn, [], Ct);
    }

    [Fact]
    public async Task Target_group_attributes_are_read_and_changed()
    {
        await fixture.ResetAsync();
        var group = await Client.CreateTargetGroupAsync("elb-attrs", await DefaultVpcAsync(), 80, "/", new Dictionary<string, string>(), Ct);

        var before = await Client.DescribeTargetGroupAttributesAsync(group.Arn, Ct);
        Assert.Equal("300", before["deregistration_delay.timeout_seconds"]);

        await Client.ModifyTargetGroupAttributesAsync(group.Arn, new Dictionary<string, string> { ["deregistration_delay.timeout_seconds"] = "30" }, Ct);

        var after = await Client.DescribeTargetGroupAttributesAsync(group.Arn, Ct);
        Assert.Equal("30", after["deregistration_delay.timeout_seconds"]);
    }

    [Fact]
    public async Task A_target_group_is_deleted_and_deleting_it_again_is_fine()
    {
        await fixture.ResetAsync();
        var group = await Client.CreateTargetGroupAsync("elb-doomed", await DefaultVpcAsync(), 80, "/", new Dictionary<string, string>(), Ct);

        await Client.DeleteTargetGroupAsync(group.Arn, Ct);
        await Client.DeleteTargetGroupAsync(group.Arn, Ct);

        Assert.Empty(await Client.DescribeTargetGroupsAsync([group.Arn], Ct));
        Assert.Empty(await Client.DescribeTargetGroupsByNameAsync(["elb-doomed"], Ct));
    }

    [Fact]
    public async Task An_error_answer_is_an_ElbException_with_AWSs_code_and_no_secret()
    {
        await fixture.ResetAsync();
        var vpc = await DefaultVpcAsync();

        var error = await Assert.ThrowsAsync<ElbException>(() =>
            Client.CreateTargetGroupAsync("-not_a valid name-", vpc, 80, "/", new Dictionary<string, string>(), Ct));

        Assert.Equal("CreateTargetGroup", error.Action);
        Assert.False(string.IsNullOrEmpty(error.Code));
        Assert.True((int)error.Status is >= 400 and < 500, error.Status.ToString());
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Signature=", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_call_goes_to_loopback_signed_for_the_region_and_service()
    {
        await fixture.ResetAsync();
        await Client.DescribeTargetGroupsByNameAsync(["elb-none"], Ct);

        Assert.NotEmpty(_handler.Authorizations);
        Assert.All(_handler.Authorizations, a =>
            Assert.Matches("^AWS4-HMAC-SHA256 Credential=AKIAIMMUTABLETEST000/[0-9]{8}/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$", a));
    }

    private async Task<string> DefaultVpcAsync()
    {
        var vpcs = await Ec2.DescribeVpcsAsync(new DescribeVpcsRequest { Filters = [new Filter("isDefault", ["true"])] }, Ct);
        return Assert.Single(vpcs.Vpcs).VpcId;
    }

    private async Task<(string Balancer, string Listener)> LoadBalancerWithListenerAsync(string vpc, string targetGroupArn)
    {
        var subnets = await Ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest { Filters = [new Filter("vpc-id", [vpc])] }, Ct);
        var twoZones = subnets.Subnets.GroupBy(s => s.AvailabilityZone).Select(g => g.First().SubnetId).Take(2).ToList();
        Assert.Equal(2, twoZones.Count);

        var created = await Client.CallAsync(
            "CreateLoadBalancer",
            [new("Name", "elb-alb"), new("Type", "application"), new("Scheme", "internet-facing"), new("Subnets.member.1", twoZones[0]), new("Subnets.member.2", twoZones[1])],
            Ct);
        var balancerArn = created.Descendants().First(e => e.Name.LocalName == "LoadBalancerArn").Value;

        var listener = await Client.CallAsync(
            "CreateListener",
            [
                new("LoadBalancerArn", balancerArn), new("Protocol", "HTTP"), new("Port", "80"),
                new("DefaultActions.member.1.Type", "forward"), new("DefaultActions.member.1.TargetGroupArn", targetGroupArn),
            ],
            Ct);
        return (balancerArn, listener.Descendants().First(e => e.Name.LocalName == "ListenerArn").Value);
    }

    private async Task<List<string>> RunInstancesAsync(int count)
    {
        var images = await Ec2.DescribeImagesAsync(new DescribeImagesRequest { Owners = ["amazon"] }, Ct);
        var image = images.Images.First(i => i.Architecture == ArchitectureValues.X86_64).ImageId;
        var run = await Ec2.RunInstancesAsync(new RunInstancesRequest { ImageId = image, InstanceType = InstanceType.T3Micro, MinCount = count, MaxCount = count }, Ct);
        return run.Reservation.Instances.Select(i => i.InstanceId).ToList();
    }

    /// <summary>Refuses any request off loopback (moto's instance addresses are not ours to reach) and keeps each Authorization sent.</summary>
    private sealed class LoopbackOnly : DelegatingHandler
    {
        private readonly List<string> _authorizations = [];

        public IReadOnlyList<string> Authorizations
        {
            get
            {
                lock (_authorizations)
                {
                    return [.. _authorizations];
                }
            }
        }

        public int Count => Authorizations.Count;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Assert.True(request.RequestUri is { IsLoopback: true }, $"{request.RequestUri} is not loopback");
            lock (_authorizations)
            {
                _authorizations.Add(request.Headers.TryGetValues("Authorization", out var values) ? string.Join(",", values) : "");
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
