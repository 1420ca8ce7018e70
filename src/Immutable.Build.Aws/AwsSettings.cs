using Immutable.Build.Targets;

namespace Immutable.Build.Aws;

/// <summary>The ImmutableAws* settings of the EC2 target and the AMI bake: their property names and CLI options.</summary>
public static class AwsSettings
{
    /// <summary>The region.</summary>
    public const string Region = "ImmutableAwsRegion";

    /// <summary>The EC2 and SSM endpoint (a VPC endpoint or a test server).</summary>
    public const string ServiceUrl = "ImmutableAwsServiceUrl";

    /// <summary>The ELBv2 endpoint.</summary>
    public const string ElbServiceUrl = "ImmutableAwsElbServiceUrl";

    /// <summary>The S3 endpoint of the shared state (ImmutableStateUrl=s3://...).</summary>
    public const string S3ServiceUrl = "ImmutableAwsS3ServiceUrl";

    /// <summary>The AMI releases are baked on or, without a bake, launched on.</summary>
    public const string BaseAmi = "ImmutableAwsBaseAmi";

    /// <summary>The instance type.</summary>
    public const string InstanceType = "ImmutableAwsInstanceType";

    /// <summary>Subnets, ';'-separated.</summary>
    public const string Subnets = "ImmutableAwsSubnets";

    /// <summary>Security groups, ';'-separated.</summary>
    public const string SecurityGroups = "ImmutableAwsSecurityGroups";

    /// <summary>The instance profile of the app's instances.</summary>
    public const string InstanceProfile = "ImmutableAwsInstanceProfile";

    /// <summary>The instance profile of the bake's builder instance.</summary>
    public const string BuilderInstanceProfile = "ImmutableAwsBuilderInstanceProfile";

    /// <summary>The key pair.</summary>
    public const string KeyName = "ImmutableAwsKeyName";

    /// <summary>The port the app listens on, on each instance.</summary>
    public const string AppPort = "ImmutableAwsAppPort";

    /// <summary>The ALB listener whose weights route traffic.</summary>
    public const string ListenerArn = "ImmutableAwsListenerArn";

    /// <summary>The Elastic IP moved to the new instance (single-instance apps).</summary>
    public const string ElasticIp = "ImmutableAwsElasticIp";

    /// <summary>Whether HTTP gates probe instance addresses.</summary>
    public const string DirectHealthChecks = "ImmutableAwsDirectHealthChecks";

    /// <summary>Whether each release's launch template version becomes the default.</summary>
    public const string SetDefaultVersion = "ImmutableAwsSetDefaultVersion";

    /// <summary>How long a bake may take.</summary>
    public const string BakeTimeout = "ImmutableAwsBakeTimeout";

    /// <summary>Regions the baked AMI is copied to.</summary>
    public const string CopyToRegions = "ImmutableAwsCopyToRegions";

    /// <summary>The path of each release target group's health check.</summary>
    public const string HealthCheckPath = "ImmutableAwsHealthCheckPath";

    /// <summary>The region: the EC2 target's, and the shared state's bucket's.</summary>
    internal static TargetSetting RegionSetting { get; } = new(Region, "--aws-region", "EC2 target and S3 state: the region. Default: $AWS_REGION, else $AWS_DEFAULT_REGION.");

    /// <summary>The S3 endpoint of the shared state.</summary>
    internal static TargetSetting S3ServiceUrlSetting { get; } = new(S3ServiceUrl, "--aws-s3-service-url", "S3 state (ImmutableStateUrl=s3://bucket/prefix): the S3 endpoint URL (a VPC endpoint or a test server). Default: $AWS_ENDPOINT_URL_S3, else $AWS_ENDPOINT_URL, else the region's public endpoint.");

    /// <summary>Every setting, in the order the CLI lists them.</summary>
    public static IReadOnlyList<TargetSetting> All { get; } =
    [
        RegionSetting,
        new(ServiceUrl, "--aws-service-url", "EC2 target: the EC2 and SSM endpoint URL (a VPC endpoint or a test server). Default: the region's public endpoint."),
        new(ElbServiceUrl, "--aws-elb-service-url", "EC2 target: the Elastic Load Balancing endpoint URL. Default: the region's public endpoint."),
        new(BaseAmi, "--aws-base-ami", "EC2 target: the AMI id, or SSM parameter name, releases are baked on (or launched on without a bake). Default: " + Ec2TargetOptions.DefaultBaseAmi + "."),
        new(InstanceType, "--aws-instance-type", "EC2 target: the instance type. Default: " + Ec2TargetOptions.DefaultInstanceType + "."),
        new(Subnets, "--aws-subnets", "EC2 target: subnet ids separated by ';'; instances are spread over them. Default: the default VPC's default subnet."),
        new(SecurityGroups, "--aws-security-groups", "EC2 target: security group ids separated by ';'. Default: the VPC's default group."),
        new(InstanceProfile, "--aws-instance-profile", "EC2 target: the instance profile (name or ARN) of the app's instances. Default: none."),
        new(BuilderInstanceProfile, "--aws-builder-instance-profile", "EC2 target: the instance profile of the AMI bake's builder instance, with SSM access (AmazonSSMManagedInstanceCore). Required for a bake."),
        new(KeyName, "--aws-key-name", "EC2 target: the key pair of the instances. Default: none."),
        new(AppPort, "--aws-app-port", "EC2 target: the port the app listens on, on each instance (the target groups forward to it). Default: 8080."),
        new(HealthCheckPath, "--aws-health-check-path", "EC2 target: the path the load balancer's health check of each release target group asks for. Default: /healthz."),
        new(ListenerArn, "--aws-listener-arn", "EC2 target: the Application Load Balancer listener whose forward weights route traffic between release groups."),
        new(ElasticIp, "--aws-elastic-ip", "EC2 target: an Elastic IP (allocation id or address) moved to the new instance, for single-instance apps without a load balancer."),
        new(DirectHealthChecks, "--aws-direct-health-checks", "EC2 target: true to run the HTTP health and release-identity gates against instance addresses (for build agents inside the VPC). Default: false (health is instance status and target health)."),
        new(SetDefaultVersion, "--aws-set-default-version", "EC2 target: true to make each release's launch template version the default, for an Auto Scaling group that uses $Default. Default: false."),
        new(BakeTimeout, "--aws-bake-timeout", "AMI bake: how long installing the release on the builder may take. Default: 30m."),
        new(CopyToRegions, "--aws-copy-to-regions", "AMI bake: regions, separated by ';', the baked AMI is copied to. Default: none."),
        // Declared with the target's settings too, so the package knows the property and the CLI offers the option whichever target deploys.
        S3ServiceUrlSetting,
    ];
}
