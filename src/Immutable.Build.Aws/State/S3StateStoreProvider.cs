using System.Text.RegularExpressions;
using Amazon.S3;
using Immutable.Build.Aws.State;
using Immutable.Build.State;
using Immutable.Build.Targets;

[assembly: StateStoreProvider(typeof(S3StateStoreProvider))]

namespace Immutable.Build.Aws.State;

/// <summary>
/// ImmutableStateUrl=s3://bucket/prefix: the deploy lock, journal and ledger of every scope as objects below the
/// prefix, shared by every runner with access to the bucket. Region and credentials come as for the EC2 target
/// (settings, then the environment, then the SDK's default chain).
/// </summary>
public sealed partial class S3StateStoreProvider : IStateStoreProvider
{
    /// <summary>The URL scheme.</summary>
    public const string UrlScheme = "s3";

    /// <inheritdoc />
    public string Scheme => UrlScheme;

    /// <inheritdoc />
    public IReadOnlyList<TargetSetting> Settings { get; } = [AwsSettings.RegionSetting, AwsSettings.S3ServiceUrlSetting];

    /// <summary>Test hook: wraps the S3 client's HTTP handler.</summary>
    internal Func<HttpMessageHandler, HttpMessageHandler>? WrapHandler { get; init; }

    /// <inheritdoc />
    public IStateStore Open(Uri url, StateContext context)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(context);
        var (bucket, prefix) = Parse(url);
        var environment = context.GetEnvironmentVariable;
        var region = Ec2TargetProvider.RegionOf(context.Setting, environment);
        var endpoint = Ec2TargetProvider.Url(
            AwsSettings.S3ServiceUrl,
            context.Setting(AwsSettings.S3ServiceUrl) ?? environment("AWS_ENDPOINT_URL_S3") ?? environment("AWS_ENDPOINT_URL"),
            "https://s3.eu-west-1.amazonaws.com");
        var config = new AmazonS3Config { Timeout = TimeSpan.FromSeconds(30) };
        if (endpoint is null)
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(region);
        }
        else
        {
            // A VPC endpoint or a test server answers for every bucket at one host: the bucket goes in the path.
            config.ServiceURL = endpoint.ToString();
            config.AuthenticationRegion = region;
            config.ForcePathStyle = true;
        }

        if (WrapHandler is { } wrap)
        {
            config.HttpClientFactory = new AwsClients.WrappingHttpClientFactory(wrap);
        }

        var client = new AmazonS3Client(AwsClients.Credentials(environment), config);
        return new ConditionalStateStore(new S3Objects(client, bucket, prefix), context.SharedOptions());
    }

    /// <summary>The bucket and prefix of an s3:// URL; IMB6203 saying what to write for one that names no usable bucket.</summary>
    internal static (string Bucket, string Prefix) Parse(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        // From the text as written: Uri lowercases its host, and S3 would then silently use another bucket.
        var text = url.OriginalString.Trim();
        var rest = text.StartsWith(UrlScheme + "://", StringComparison.OrdinalIgnoreCase) ? text[(UrlScheme.Length + 3)..] : "";
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var bucket = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? "" : rest[(slash + 1)..];
        if (!BucketName().IsMatch(bucket) || prefix.IndexOfAny(['?', '#']) >= 0)
        {
            throw new ImmutableBuildException(
                StateErrors.InvalidStateUrl,
                $"ImmutableStateUrl '{text}' does not name an S3 bucket and prefix. Write s3://<bucket>/<prefix>, e.g. s3://my-team-deploy-state/immutable (a bucket name of 3 to 63 lowercase letters, digits, '.' and '-'; no credentials, port or query: the region, endpoint and credentials come from the AWS settings and environment).");
        }

        return (bucket, Uri.UnescapeDataString(prefix).Trim('/'));
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    private static partial Regex BucketName();
}
