namespace Immutable.Build.Aws;

/// <summary>The IMB8xxx codes of the EC2 target and the AMI bake, each with its cause and fix.</summary>
internal static class AwsErrors
{
    [ErrorCode(
        "An ImmutableAws* setting has a value it cannot take (region, URL, subnet or security group list, port, duration, AMI id or SSM parameter, Elastic IP, listener ARN, replicas), or a base AMI that does not exist in the region.",
        "Correct the value named in the message.")]
    public const string SettingCode = "IMB8001";

    [ErrorCode(
        "An AWS call failed; the message names the call and AWS's error code (never the credentials).",
        "Fix what AWS names (a missing resource, a permission the credentials lack, a limit); the rollout rolled back what it had launched.")]
    public const string CallCode = "IMB8002";

    [ErrorCode(
        "AWS kept refusing a call for throttling (RequestLimitExceeded, Throttling) or capacity (InsufficientInstanceCapacity) after the retries.",
        "Run again later, or choose another instance type (ImmutableAwsInstanceType) or more subnets (ImmutableAwsSubnets) in other zones; nothing launched by the failed step is left running.")]
    public const string BusyCode = "IMB8003";

    [ErrorCode(
        "No AWS credentials were found (environment, profile, instance role), or no region is set.",
        "Set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run on an instance with a role; set ImmutableAwsRegion or AWS_REGION.")]
    public const string CredentialsCode = "IMB8004";

    [ErrorCode(
        "The EC2 target has no AMI of the release and cannot launch it on the base AMI, or a bake cannot pull it: the release has no registry image (it was published to an OCI layout).",
        "Publish with ContainerRegistry set, so instances pull the image by digest, or bake an AMI first (ImmutableBakeAmi=true or `immutable bake-ami`).")]
    public const string NoImageCode = "IMB8005";

    [ErrorCode(
        "The ALB listener (ImmutableAwsListenerArn) does not exist, its default action is not a single forward, or a forward would need more than 5 target groups.",
        "Give the ARN of an Application Load Balancer listener whose default action forwards to target groups; use fewer rolling batches.")]
    public const string ListenerCode = "IMB8006";

    [ErrorCode(
        "An AMI bake failed: the install script on the builder failed or did not finish within ImmutableAwsBakeTimeout, or the AMI did not become available. The message holds the script's last output.",
        "Fix what the output names (the image pull, the registry's access from the builder, disk space), or raise ImmutableAwsBakeTimeout; the builder was terminated.")]
    public const string BakeCode = "IMB8007";

    public static ImmutableBuildException Setting(string property, string? value, string fix) =>
        new(SettingCode, $"{property}='{value}' cannot be used: {fix}.");
}
