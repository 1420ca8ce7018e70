using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Immutable.Build.Aws.Elb;
using Immutable.Build.Deployments;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;

namespace Immutable.Build.Aws.Tests;

/// <summary>
/// One app on moto: the SDK and ELBv2 clients the assertions use, the deployment options that drive the engine
/// through <see cref="Deployer"/> with the real EC2 target, a counting handler under every call the target makes
/// (which also refuses anything not sent to loopback), and every log line, for the secrets check.
/// </summary>
internal sealed class Ec2Scenario : IDisposable
{
    private readonly MotoFixture _moto;

    public Ec2Scenario(MotoFixture moto, string app)
    {
        _moto = moto;
        App = app;
        StateDirectory = TestEnvironment.NewWorkDir("ec2-" + app);
        Ec2 = new AmazonEC2Client(
            new BasicAWSCredentials(moto.Credentials["AWS_ACCESS_KEY_ID"], Secret),
            new AmazonEC2Config { ServiceURL = moto.Url.ToString(), AuthenticationRegion = MotoFixture.Region });
        Elb = new ElbQueryClient(new ElbClientOptions
        {
            Endpoint = moto.Url,
            Region = MotoFixture.Region,
            Credentials = () => new ImmutableCredentials(moto.Credentials["AWS_ACCESS_KEY_ID"], Secret, null),
        });
    }

    public string App { get; }

    public string StateDirectory { get; }

    public string Secret => _moto.Credentials["AWS_SECRET_ACCESS_KEY"]!;

    public AmazonEC2Client Ec2 { get; }

    public ElbQueryClient Elb { get; }

    /// <summary>Counts the target's calls by action.</summary>
    public CallCounter Calls { get; } = new();

    /// <summary>Every line the deployer and the target logged.</summary>
    public ConcurrentQueue<string> Lines { get; } = new();

    /// <summary>Settings laid over the defaults of every call.</summary>
    public Dictionary<string, string> Settings { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Fault injection on one request kind: given the action, an answer instead of moto's, or null to pass it on.</summary>
    public Func<string, HttpResponseMessage?>? Fault { get; set; }

    /// <summary>Test hook for direct health checks: maps an instance's private address to a loopback URL.</summary>
    public Func<string, Uri>? InstanceUrl { get; set; }

    public ReleaseLog Log => new(Lines.Enqueue, Lines.Enqueue, (code, message) => Lines.Enqueue(code + " " + message));

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A release of the app whose image nobody pulls (moto runs nothing): id, digest and commit from <paramref name="n"/>.</summary>
    public ReleaseRef Release(int n)
    {
        var hex = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(App + "/" + n))).ToLowerInvariant();
        var reference = $"127.0.0.1:5000/{App}@sha256:{hex}";
        return new ReleaseRef($"v{n}-{hex[..7]}", reference, "sha256:" + hex, reference, hex[..40]);
    }

    public DeploymentOptions Options(RolloutOptions? rollout = null, int retain = 2) => new()
    {
        App = App,
        Target = "ec2",
        StateDirectory = StateDirectory,
        TargetSettings = new Dictionary<string, string>(Settings, StringComparer.OrdinalIgnoreCase)
        {
            [AwsSettings.Region] = MotoFixture.Region,
            [AwsSettings.ServiceUrl] = _moto.Url.ToString(),
            [AwsSettings.ElbServiceUrl] = _moto.Url.ToString(),
        },
        Rollout = rollout ?? new RolloutOptions { Replicas = 1 },
        Retain = retain,
        GetEnvironmentVariable = _moto.Environment,
        TargetProviders = [new Provider(this)],
    };

    public Task<RolloutResult> DeployAsync(int n, RolloutOptions? rollout = null, int retain = 2) => Deployer.DeployAsync(Options(rollout, retain), Release(n), Log, Ct);

    /// <summary>The target with the scenario's hooks, for calls the deployer does not make (a bake).</summary>
    public Ec2Target Target() => (Ec2Target)new Provider(this).Create(new TargetContext
    {
        Settings = Options().TargetSettings,
        StateDirectory = StateDirectory,
        HostAssembly = "",
        GetEnvironmentVariable = _moto.Environment,
        Log = Log,
    });

    public DeploymentScope Scope => new(App, Deployer.DefaultEnvironment);

    /// <summary>The app's instances that are not terminated (builders included).</summary>
    public async Task<List<Instance>> InstancesAsync(params string[] states)
    {
        var response = await Ec2.DescribeInstancesAsync(new DescribeInstancesRequest
        {
            Filters = [new Filter("tag:immutable.app", [App]), new Filter("instance-state-name", states.Length > 0 ? [.. states] : ["pending", "running", "stopping", "stopped"])],
        }, Ct);
        return (response.Reservations ?? []).SelectMany(r => r.Instances ?? []).ToList();
    }

    public static string? Tag(Instance instance, string key) => instance.Tags?.FirstOrDefault(t => t.Key == key)?.Value;

    /// <summary>An ALB in the default VPC whose listener forwards to a target group made outside any rollout, as Terraform would.</summary>
    public async Task<(string ListenerArn, string ForeignTargetGroupArn)> LoadBalancerAsync()
    {
        var vpc = (await Ec2.DescribeVpcsAsync(new DescribeVpcsRequest { Filters = [new Filter("isDefault", ["true"])] }, Ct)).Vpcs[0].VpcId;
        var subnets = (await Ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest { Filters = [new Filter("vpc-id", [vpc])] }, Ct)).Subnets
            .GroupBy(s => s.AvailabilityZone).Select(g => g.First().SubnetId).Take(2).ToList();
        var foreign = await Elb.CreateTargetGroupAsync("tf-" + App[..Math.Min(App.Length, 20)], vpc, 8080, "/healthz", new Dictionary<string, string> { ["made-by"] = "terraform" }, Ct);
        var balancer = await Elb.CallAsync(
            "CreateLoadBalancer",
            [new("Name", "alb-" + App[..Math.Min(App.Length, 20)]), new("Type", "application"), new("Subnets.member.1", subnets[0]), new("Subnets.member.2", subnets[1])],
            Ct);
        var balancerArn = balancer.Descendants().First(e => e.Name.LocalName == "LoadBalancerArn").Value;
        var listener = await Elb.CallAsync(
            "CreateListener",
            [new("LoadBalancerArn", balancerArn), new("Protocol", "HTTP"), new("Port", "80"), new("DefaultActions.member.1.Type", "forward"), new("DefaultActions.member.1.TargetGroupArn", foreign.Arn)],
            Ct);
        var arn = listener.Descendants().First(e => e.Name.LocalName == "ListenerArn").Value;
        Settings[AwsSettings.ListenerArn] = arn;
        return (arn, foreign.Arn);
    }

    /// <summary>The listener's forward: target group name to weight.</summary>
    public async Task<Dictionary<string, int>> ForwardAsync()
    {
        var listener = await Elb.DescribeListenerAsync(Settings[AwsSettings.ListenerArn], Ct);
        return listener!.DefaultActions[0].TargetGroups.ToDictionary(t => t.TargetGroupArn.Split('/')[^2], t => t.Weight, StringComparer.Ordinal);
    }

    /// <summary>An IAM instance profile in moto (EC2 there checks that a named profile exists). IAM's Query API, unsigned: moto reads the service from the credential scope.</summary>
    public async Task CreateInstanceProfileAsync(string name)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, _moto.Url)
        {
            Content = new FormUrlEncodedContent([new("Action", "CreateInstanceProfile"), new("InstanceProfileName", name), new("Version", "2010-05-08")]),
        };
        request.Headers.TryAddWithoutValidation("Authorization", $"AWS4-HMAC-SHA256 Credential={_moto.Credentials["AWS_ACCESS_KEY_ID"]}/20260101/{MotoFixture.Region}/iam/aws4_request, SignedHeaders=host, Signature=0");
        using var response = await http.SendAsync(request, Ct);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>A release.json of release <paramref name="n"/>, as publish writes it.</summary>
    public string WriteManifest(int n)
    {
        var release = Release(n);
        var hex = release.ImageDigest["sha256:".Length..];
        var manifest = new Releases.ReleaseManifest
        {
            App = App,
            ReleaseId = release.ReleaseId,
            Source = new Releases.ReleaseSource(release.Commit!, release.Commit![..7], false, DateTimeOffset.UnixEpoch, null, "git"),
            Image = new Releases.ReleaseImage
            {
                Registry = "127.0.0.1:5000",
                Repository = App,
                Digest = release.ImageDigest,
                Reference = release.ImageReference,
                MediaType = "application/vnd.oci.image.manifest.v1+json",
                Tags = [release.ReleaseId],
                Engine = "immutable",
                Reproducible = true,
            },
            Build = new Releases.ReleaseBuildInfo("10.0.401", "Release", "net10.0", "linux-x64", "test"),
            Provenance = new Releases.ProvenanceStatement(
                "https://in-toto.io/Statement/v1",
                [new Releases.ProvenanceSubject(release.ImageReference, new Dictionary<string, string> { ["sha256"] = hex })],
                "https://slsa.dev/provenance/v1",
                new Releases.SlsaProvenance(new Releases.SlsaBuildDefinition("https://immutable.build/oci/v1", new Dictionary<string, string>(), []), new Releases.SlsaRunDetails(new Releases.SlsaBuilder("local")))),
        };
        var directory = Path.Combine(StateDirectory, "out", release.ReleaseId);
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "release.json");
        Releases.ReleaseManifestFile.Write(path, manifest);
        return path;
    }

    /// <summary>Proves no secret reached a log line, the state directory or an error.</summary>
    public void AssertNoSecret(params string[] more)
    {
        var secret = Secret;
        Assert.All(Lines, l => Assert.DoesNotContain(secret, l, StringComparison.Ordinal));
        Assert.All(more, m => Assert.DoesNotContain(secret, m, StringComparison.Ordinal));
        foreach (var file in Directory.EnumerateFiles(StateDirectory, "*", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(file);
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(_moto.Credentials["AWS_ACCESS_KEY_ID"]!, text, StringComparison.Ordinal);
        }
    }

    public void Dispose()
    {
        Ec2.Dispose();
        Elb.Dispose();
    }

    private sealed class Provider(Ec2Scenario scenario) : IDeploymentTargetProvider
    {
        public string Name => "ec2";

        public IReadOnlyList<TargetSetting> Settings => AwsSettings.All;

        public IDeploymentTarget Create(TargetContext context) => new Ec2Target(Ec2TargetProvider.Options(context) with
        {
            PollInterval = TimeSpan.FromMilliseconds(50),
            Retries = new RetryPolicy { MaxAttempts = 3, BaseDelay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromMilliseconds(50) },
            WrapHandler = inner => new CountingHandler(scenario.Calls, action => scenario.Fault?.Invoke(action)) { InnerHandler = inner },
            InstanceUrl = scenario.InstanceUrl,
        });
    }
}

/// <summary>Calls by API action.</summary>
internal sealed class CallCounter
{
    private readonly ConcurrentDictionary<string, int> _byAction = new(StringComparer.Ordinal);

    public int Total => _byAction.Values.Sum();

    public IReadOnlyDictionary<string, int> ByAction => new Dictionary<string, int>(_byAction, StringComparer.Ordinal);

    public void Add(string action) => _byAction.AddOrUpdate(action, 1, (_, n) => n + 1);

    public void Reset() => _byAction.Clear();
}

/// <summary>Counts each AWS call by its Action (form body or query) and refuses any request not sent to loopback.</summary>
internal sealed class CountingHandler(CallCounter counter, Func<string, HttpResponseMessage?>? fault = null) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri is not { IsLoopback: true })
        {
            throw new InvalidOperationException($"a test sent a request to {request.RequestUri}, which is not loopback");
        }

        var action = "?";
        if (request.Content is not null)
        {
            await request.Content.LoadIntoBufferAsync(cancellationToken);
            var body = await request.Content.ReadAsStringAsync(cancellationToken);
            action = ActionOf(body) ?? "?";
        }

        if (request.Headers.TryGetValues("X-Amz-Target", out var target))
        {
            action = target.First().Split('.')[^1];
        }

        counter.Add(action);
        return fault?.Invoke(action) ?? await base.SendAsync(request, cancellationToken);
    }

    private static string? ActionOf(string form) => form.Split('&').Select(p => p.Split('=', 2)).FirstOrDefault(p => p.Length == 2 && p[0] == "Action") is { } pair ? Uri.UnescapeDataString(pair[1]) : null;
}
