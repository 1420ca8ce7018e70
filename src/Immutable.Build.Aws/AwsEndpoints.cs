namespace Immutable.Build.Aws;

/// <summary>Where AWS calls go: a region, and optionally service URLs (VPC endpoints or a test server).</summary>
/// <param name="Region">The region, e.g. eu-west-1.</param>
/// <param name="ServiceUrl">EC2 and SSM, when not the region's public endpoints.</param>
/// <param name="ElbServiceUrl">ELBv2, when not the region's public endpoint.</param>
public sealed record AwsEndpoints(string Region, Uri? ServiceUrl = null, Uri? ElbServiceUrl = null)
{
    /// <summary>The same endpoints in another region (an AMI copy): service URLs stay, since a test server answers for every region.</summary>
    public AwsEndpoints InRegion(string region) => this with { Region = region };

    /// <summary>The ELBv2 endpoint URL: the one given, else the region's public one.</summary>
    public Uri Elb => ElbServiceUrl ?? new Uri($"https://elasticloadbalancing.{Region}.amazonaws.com/");

    /// <summary>The EC2 endpoint of <see cref="Region"/>.</summary>
    public Ec2Endpoint Ec2 => new(Region, ServiceUrl);
}
