using Amazon.EC2;

namespace Immutable.Build.Aws;

/// <summary>Where EC2 calls go: a region, and optionally a service URL (a VPC endpoint or a test server).</summary>
public sealed record Ec2Endpoint(string Region, Uri? ServiceUrl = null)
{
    /// <summary>The SDK configuration for this endpoint.</summary>
    public AmazonEC2Config ToConfig()
    {
        var config = new AmazonEC2Config();
        if (ServiceUrl is null)
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(Region);
        }
        else
        {
            config.ServiceURL = ServiceUrl.ToString();
            config.AuthenticationRegion = Region;
        }

        return config;
    }
}
