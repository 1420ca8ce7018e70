using System.Security.Cryptography;
using System.Text;
using Immutable.Build.Aws.Elb;

namespace Immutable.Build.Aws.Tests.Elb;

/// <summary>The signer against AWS's published examples, whose expected signatures were computed by AWS.</summary>
public sealed class SigV4SignerTests
{
    private const string AccessKey = "AKIDEXAMPLE";
    private const string SecretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    private static readonly DateTimeOffset ExampleTime = new(2015, 8, 30, 12, 36, 0, TimeSpan.Zero);

    [Fact]
    public void The_IAM_ListUsers_example_gets_its_documented_canonical_request_and_signature()
    {
        var request = new SigV4Request(
            "GET",
            "/",
            [new("Action", "ListUsers"), new("Version", "2010-05-08")],
            [
                new("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
                new("Host", "iam.amazonaws.com"),
                new("X-Amz-Date", "20150830T123600Z"),
            ],
            ReadOnlyMemory<byte>.Empty);

        var canonical = SigV4Signer.CanonicalRequest(request, out var signed);
        Assert.Equal("content-type;host;x-amz-date", signed);
        Assert.Equal("f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59", SigV4Signer.Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical))));

        Assert.Equal(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, " +
            "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
            SigV4Signer.Authorization(request, AccessKey, SecretKey, "us-east-1", "iam", ExampleTime));
    }

    [Fact]
    public void Query_parameters_are_sorted_as_in_the_test_suite_get_vanilla_query_order_key_case()
    {
        var request = new SigV4Request(
            "GET",
            "/",
            [new("Param2", "value2"), new("Param1", "value1")],
            [new("Host", "example.amazonaws.com"), new("X-Amz-Date", "20150830T123600Z")],
            ReadOnlyMemory<byte>.Empty);

        Assert.Equal(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, " +
            "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            SigV4Signer.Authorization(request, AccessKey, SecretKey, "us-east-1", "service", ExampleTime));
    }

    [Fact]
    public void The_date_is_the_basic_ISO_form_in_UTC()
    {
        Assert.Equal("20150830T123600Z", SigV4Signer.AmzDate(new DateTimeOffset(2015, 8, 30, 14, 36, 0, TimeSpan.FromHours(2))));
    }

    [Fact]
    public void The_body_is_signed()
    {
        SigV4Request With(string body) => new("POST", "/", [], [new("host", "h"), new("x-amz-date", "20150830T123600Z")], Encoding.UTF8.GetBytes(body));

        Assert.NotEqual(
            SigV4Signer.Authorization(With("Action=A"), AccessKey, SecretKey, "us-east-1", "elasticloadbalancing", ExampleTime),
            SigV4Signer.Authorization(With("Action=B"), AccessKey, SecretKey, "us-east-1", "elasticloadbalancing", ExampleTime));
    }
}
