namespace Immutable.Build.Aws.Tests;

public sealed class Ec2EndpointTests
{
    [Fact]
    public void A_service_url_keeps_the_region_for_signing()
    {
        var config = new Ec2Endpoint("eu-west-1", new Uri("http://127.0.0.1:4566/")).ToConfig();
        Assert.Equal("http://127.0.0.1:4566/", config.ServiceURL);
        Assert.Equal("eu-west-1", config.AuthenticationRegion);
    }

    [Fact]
    public void Without_a_service_url_the_region_endpoint_is_used()
    {
        var config = new Ec2Endpoint("us-east-2").ToConfig();
        Assert.Equal(Amazon.RegionEndpoint.USEast2, config.RegionEndpoint);
    }
}
