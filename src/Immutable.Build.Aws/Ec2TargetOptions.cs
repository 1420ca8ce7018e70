namespace Immutable.Build.Aws;

/// <summary>Settings of the EC2 target and the AMI bake, parsed and checked (see <see cref="Ec2TargetProvider"/> for where they come from).</summary>
public sealed record Ec2TargetOptions
{
    /// <summary>The base image when none is given: Amazon Linux 2023's public SSM parameter.</summary>
    public const string DefaultBaseAmi = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

    /// <summary>The instance type when none is given.</summary>
    public const string DefaultInstanceType = "t3.micro";

    /// <summary>Region and endpoints.</summary>
    public required AwsEndpoints Endpoints { get; init; }

    /// <summary>An AMI id (ami-...) or an SSM parameter name (/aws/service/...).</summary>
    public string BaseAmi { get; init; } = DefaultBaseAmi;

    /// <summary>The instance type.</summary>
    public string InstanceType { get; init; } = DefaultInstanceType;

    /// <summary>Subnets to spread instances over; empty: EC2's default subnet.</summary>
    public IReadOnlyList<string> Subnets { get; init; } = [];

    /// <summary>Security groups; empty: the VPC's default group.</summary>
    public IReadOnlyList<string> SecurityGroups { get; init; } = [];

    /// <summary>The app instances' instance profile (name or ARN), or null.</summary>
    public string? InstanceProfile { get; init; }

    /// <summary>The builder's instance profile, or null (a bake then fails with its own code).</summary>
    public string? BuilderInstanceProfile { get; init; }

    /// <summary>The key pair, or null.</summary>
    public string? KeyName { get; init; }

    /// <summary>The port the app listens on, on each instance.</summary>
    public int AppPort { get; init; } = 8080;

    /// <summary>The load balancer's health check path of each release target group.</summary>
    public string HealthCheckPath { get; init; } = "/healthz";

    /// <summary>The ALB listener, or null.</summary>
    public string? ListenerArn { get; init; }

    /// <summary>The Elastic IP (allocation id eipalloc-... or address), or null.</summary>
    public string? ElasticIp { get; init; }

    /// <summary>Whether HTTP gates probe instance addresses.</summary>
    public bool DirectHealthChecks { get; init; }

    /// <summary>Whether each release's launch template version becomes the default.</summary>
    public bool SetDefaultVersion { get; init; }

    /// <summary>How long the bake command may run on the builder.</summary>
    public TimeSpan BakeTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Regions the baked AMI is copied to.</summary>
    public IReadOnlyList<string> CopyToRegions { get; init; } = [];

    /// <summary>How long launched instances may take to run.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How often the target polls EC2 while it waits (instances running, an AMI available, a command done).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Retries of a throttled or capacity-refused call.</summary>
    public RetryPolicy Retries { get; init; } = new() { MaxAttempts = 5, BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(20) };

    /// <summary>The clock of every wait and retry; tests give a fake one.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Environment lookup (credentials, region).</summary>
    public Func<string, string?> GetEnvironmentVariable { get; init; } = System.Environment.GetEnvironmentVariable;

    /// <summary>One line per action that changes AWS resources (the audit trail).</summary>
    public Action<string> Log { get; init; } = _ => { };

    /// <summary>
    /// Test hook: wraps the HTTP handler of every AWS client (EC2, SSM, ELBv2), to count calls or inject a fault on
    /// one request kind. Null in production.
    /// </summary>
    public Func<HttpMessageHandler, HttpMessageHandler>? WrapHandler { get; init; }

    /// <summary>
    /// Test hook for <see cref="DirectHealthChecks"/>: the base URL gates use for an instance, from its private
    /// address. Tests map to loopback, since nothing answers on the addresses an emulator hands out. Null: http://address:port.
    /// </summary>
    public Func<string, Uri>? InstanceUrl { get; init; }
}
