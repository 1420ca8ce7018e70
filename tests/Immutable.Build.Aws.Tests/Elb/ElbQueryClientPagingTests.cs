using System.Net;
using System.Text;
using Amazon.Runtime;
using Immutable.Build.Aws.Elb;

namespace Immutable.Build.Aws.Tests.Elb;

/// <summary>
/// The Marker loop of DescribeTargetGroups. moto answers every target group in one page and never sends a NextMarker,
/// so the only way to see the loop run is two recorded answers of AWS's shape, served through the test hook.
/// </summary>
public sealed class ElbQueryClientPagingTests
{
    private const string Ns = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

    [Fact]
    public async Task Target_groups_are_read_page_after_page_until_there_is_no_marker()
    {
        var pages = new TwoPages();
        using var client = new ElbQueryClient(new ElbClientOptions
        {
            Endpoint = new Uri("http://127.0.0.1:9/"),
            Region = "eu-west-1",
            Credentials = () => new ImmutableCredentials("AKID", "secret", "session-token"),
            WrapHandler = _ => pages,
        });

        var groups = await client.DescribeTargetGroupsByNameAsync(["a", "b"], TestContext.Current.CancellationToken);

        Assert.Equal(["a", "b"], groups.Select(g => g.Name));
        Assert.Equal(2, pages.Bodies.Count);
        Assert.DoesNotContain("Marker=", pages.Bodies[0], StringComparison.Ordinal);
        Assert.Contains("&Marker=next%2Fpage", pages.Bodies[1], StringComparison.Ordinal);
        Assert.All(pages.Bodies, b => Assert.StartsWith("Action=DescribeTargetGroups&Version=2015-12-01&Names.member.1=a&Names.member.2=b", b, StringComparison.Ordinal));
        Assert.All(pages.Tokens, t => Assert.Equal("session-token", t));
        Assert.All(pages.Authorizations, a => Assert.Contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,", a, StringComparison.Ordinal));
    }

    private sealed class TwoPages : HttpMessageHandler
    {
        public List<string> Bodies { get; } = [];

        public List<string> Tokens { get; } = [];

        public List<string> Authorizations { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Bodies.Add(await request.Content!.ReadAsStringAsync(cancellationToken));
            Tokens.Add(string.Join(",", request.Headers.GetValues("X-Amz-Security-Token")));
            Authorizations.Add(string.Join(",", request.Headers.GetValues("Authorization")));
            var first = Bodies.Count == 1;
            var xml = $"""
                <DescribeTargetGroupsResponse xmlns="{Ns}">
                  <DescribeTargetGroupsResult>
                    <TargetGroups>
                      <member>
                        <TargetGroupArn>arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/{(first ? "a" : "b")}/0123456789abcdef</TargetGroupArn>
                        <TargetGroupName>{(first ? "a" : "b")}</TargetGroupName>
                        <Port>80</Port>
                        <VpcId>vpc-1</VpcId>
                        <LoadBalancerArns/>
                      </member>
                    </TargetGroups>
                    {(first ? "<NextMarker>next/page</NextMarker>" : "")}
                  </DescribeTargetGroupsResult>
                </DescribeTargetGroupsResponse>
                """;
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(xml, Encoding.UTF8, "text/xml") };
        }
    }
}
