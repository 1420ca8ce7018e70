using System.Diagnostics;
using System.Globalization;
using System.Text;
using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Immutable.Build;
using Immutable.Build.Aws;
using Immutable.Build.Aws.Elb;
using Immutable.Build.Deployments;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;
using Immutable.Build.Testing;

/// <summary>
/// EC2 API calls and wall time of one blue-green rollout (v1 to v2 behind an ALB listener) for 3, 30 and 300
/// instances, against moto on loopback. moto answers at once and runs nothing, so the time is the target's own work
/// and the emulator's; the calls are what AWS would be asked, and must not grow with the instances.
/// </summary>
public static class Ec2Bench
{
    public static async Task<string> RunAsync()
    {
        var moto = new MotoFixture();
        await moto.InitializeAsync();
        try
        {
            moto.Require();
            var table = new StringBuilder();
            table.AppendLine("| instances | EC2 + ELBv2 calls per rollout | calls per instance | wall s per rollout |");
            table.AppendLine("| ---: | ---: | ---: | ---: |");
            foreach (var size in new[] { 3, 30, 300 })
            {
                await moto.ResetAsync();
                var (calls, seconds) = await RolloutAsync(moto, size);
                table.AppendLine(CultureInfo.InvariantCulture, $"| {size} | {calls} | {calls / (double)size:F2} | {seconds:F2} |");
            }

            return table.ToString();
        }
        finally
        {
            await moto.DisposeAsync();
        }
    }

    private static async Task<(int Calls, double Seconds)> RolloutAsync(MotoFixture moto, int size)
    {
        var app = "bench-ec2-" + size.ToString(CultureInfo.InvariantCulture);
        var credentials = new BasicAWSCredentials(moto.Credentials["AWS_ACCESS_KEY_ID"], moto.Credentials["AWS_SECRET_ACCESS_KEY"]);
        using var ec2 = new AmazonEC2Client(credentials, new AmazonEC2Config { ServiceURL = moto.Url.ToString(), AuthenticationRegion = MotoFixture.Region });
        using var elb = new ElbQueryClient(new ElbClientOptions { Endpoint = moto.Url, Region = MotoFixture.Region, Credentials = () => credentials.GetCredentials() });
        var vpc = (await ec2.DescribeVpcsAsync(new DescribeVpcsRequest { Filters = [new Filter("isDefault", ["true"])] })).Vpcs[0].VpcId;
        var subnets = (await ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest { Filters = [new Filter("vpc-id", [vpc])] })).Subnets.GroupBy(s => s.AvailabilityZone).Select(g => g.First().SubnetId).Take(2).ToList();
        var first = await elb.CreateTargetGroupAsync("tf-" + app, vpc, 8080, "/healthz", new Dictionary<string, string>(), CancellationToken.None);
        var balancer = (await elb.CallAsync("CreateLoadBalancer", [new("Name", "alb-" + app), new("Type", "application"), new("Subnets.member.1", subnets[0]), new("Subnets.member.2", subnets[1])], CancellationToken.None))
            .Descendants().First(e => e.Name.LocalName == "LoadBalancerArn").Value;
        var listener = (await elb.CallAsync("CreateListener", [new("LoadBalancerArn", balancer), new("Protocol", "HTTP"), new("Port", "80"), new("DefaultActions.member.1.Type", "forward"), new("DefaultActions.member.1.TargetGroupArn", first.Arn)], CancellationToken.None))
            .Descendants().First(e => e.Name.LocalName == "ListenerArn").Value;

        var counter = new Counter();
        var options = new DeploymentOptions
        {
            App = app,
            Target = "ec2",
            StateDirectory = TestEnvironment.NewWorkDir("bench-ec2-state"),
            TargetSettings = new Dictionary<string, string>
            {
                [AwsSettings.Region] = MotoFixture.Region,
                [AwsSettings.ServiceUrl] = moto.Url.ToString(),
                [AwsSettings.ElbServiceUrl] = moto.Url.ToString(),
                [AwsSettings.ListenerArn] = listener,
                [AwsSettings.Subnets] = string.Join(';', subnets),
            },
            Rollout = new RolloutOptions { Replicas = size },
            GetEnvironmentVariable = moto.Environment,
            TargetProviders = [new Provider(counter)],
        };
        await Deploy(options, app, 1);
        Interlocked.Exchange(ref counter.Calls, 0);
        var watch = Stopwatch.StartNew();
        await Deploy(options, app, 2);
        return (Volatile.Read(ref counter.Calls), watch.Elapsed.TotalSeconds);
    }

    private static async Task Deploy(DeploymentOptions options, string app, int n)
    {
        var hex = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(app + n))).ToLowerInvariant();
        var reference = $"127.0.0.1:5000/{app}@sha256:{hex}";
        var result = await Deployer.DeployAsync(options, new ReleaseRef($"v{n}", reference, "sha256:" + hex, reference, hex[..40]), ReleaseLog.None, CancellationToken.None);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"EC2 bench rollout of {app} v{n} failed: {result.Reason}");
        }
    }

    private sealed class Counter
    {
        public int Calls;
    }

    private sealed class Provider(Counter counter) : IDeploymentTargetProvider
    {
        public string Name => "ec2";

        public IReadOnlyList<TargetSetting> Settings => AwsSettings.All;

        public IDeploymentTarget Create(TargetContext context) => new Ec2Target(Ec2TargetProvider.Options(context) with
        {
            PollInterval = TimeSpan.FromMilliseconds(200),
            WrapHandler = inner => new Counting(counter) { InnerHandler = inner },
        });
    }

    private sealed class Counting(Counter counter) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri is not { IsLoopback: true })
            {
                throw new InvalidOperationException($"the bench sent a request to {request.RequestUri}, which is not loopback");
            }

            Interlocked.Increment(ref counter.Calls);
            return base.SendAsync(request, cancellationToken);
        }
    }
}
