using Amazon.EC2;
using Amazon.Runtime;
using Amazon.SimpleSystemsManagement;

namespace Immutable.Build.Aws;

/// <summary>
/// The AWS clients of one target: EC2 and SSM from the SDK, ELBv2 from <see cref="Elb.ElbQueryClient"/>, all with the
/// same credentials and the same test hook. The SDK's own retries are off: <see cref="AwsCall"/> retries throttling
/// and capacity errors on the target's clock, so that the bound and the backoff are ours and testable.
/// </summary>
internal sealed class AwsClients : IDisposable
{
    private readonly Ec2TargetOptions _options;
    private readonly Lazy<AWSCredentials> _credentials;
    private readonly Dictionary<string, AmazonEC2Client> _ec2 = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private AmazonSimpleSystemsManagementClient? _ssm;
    private Elb.IElbClient? _elb;

    public AwsClients(Ec2TargetOptions options)
    {
        _options = options;
        _credentials = new Lazy<AWSCredentials>(() => Credentials(options.GetEnvironmentVariable));
        Calls = new AwsCall(options);
    }

    /// <summary>Runs calls with the target's retries and error codes.</summary>
    public AwsCall Calls { get; }

    /// <summary>EC2 in the target's region.</summary>
    public AmazonEC2Client Ec2 => Ec2In(_options.Endpoints.Region);

    /// <summary>EC2 in another region (AMI copies).</summary>
    public AmazonEC2Client Ec2In(string region)
    {
        lock (_gate)
        {
            if (!_ec2.TryGetValue(region, out var client))
            {
                var config = _options.Endpoints.InRegion(region).Ec2.ToConfig();
                Configure(config);
                client = new AmazonEC2Client(_credentials.Value, config);
                _ec2[region] = client;
            }

            return client;
        }
    }

    /// <summary>SSM in the target's region.</summary>
    public AmazonSimpleSystemsManagementClient Ssm
    {
        get
        {
            lock (_gate)
            {
                if (_ssm is null)
                {
                    var config = new AmazonSimpleSystemsManagementConfig();
                    if (_options.Endpoints.ServiceUrl is { } url)
                    {
                        config.ServiceURL = url.ToString();
                        config.AuthenticationRegion = _options.Endpoints.Region;
                    }
                    else
                    {
                        config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(_options.Endpoints.Region);
                    }

                    Configure(config);
                    _ssm = new AmazonSimpleSystemsManagementClient(_credentials.Value, config);
                }

                return _ssm;
            }
        }
    }

    /// <summary>ELBv2 in the target's region.</summary>
    public Elb.IElbClient Elb
    {
        get
        {
            lock (_gate)
            {
                return _elb ??= new Elb.ElbQueryClient(new Elb.ElbClientOptions
                {
                    Endpoint = _options.Endpoints.Elb,
                    Region = _options.Endpoints.Region,
                    Credentials = () => _credentials.Value.GetCredentials(),
                    WrapHandler = _options.WrapHandler,
                    Time = _options.Time,
                });
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var client in _ec2.Values)
            {
                client.Dispose();
            }

            _ec2.Clear();
            _ssm?.Dispose();
            (_elb as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// Keys from the target's environment lookup first (so tests need not touch the process environment), then the
    /// SDK's default chain: environment, profile, container and instance role.
    /// </summary>
    internal static AWSCredentials Credentials(Func<string, string?> environment)
    {
        if (environment("AWS_ACCESS_KEY_ID") is { Length: > 0 } key && environment("AWS_SECRET_ACCESS_KEY") is { Length: > 0 } secret)
        {
            return environment("AWS_SESSION_TOKEN") is { Length: > 0 } token
                ? new SessionAWSCredentials(key, secret, token)
                : new BasicAWSCredentials(key, secret);
        }

        try
        {
            return Amazon.Runtime.Credentials.DefaultAWSCredentialsIdentityResolver.GetCredentials();
        }
        catch (AmazonClientException)
        {
            throw new ImmutableBuildException(AwsErrors.CredentialsCode, "No AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where an instance or container role applies.");
        }
    }

    private void Configure(ClientConfig config)
    {
        config.MaxErrorRetry = 0;
        config.Timeout = TimeSpan.FromSeconds(60);
        if (_options.WrapHandler is { } wrap)
        {
            config.HttpClientFactory = new WrappingHttpClientFactory(wrap);
        }
    }

    /// <summary>Puts a test's handler (fault injection, call counting, the loopback check) under an SDK client.</summary>
    internal sealed class WrappingHttpClientFactory(Func<HttpMessageHandler, HttpMessageHandler> wrap) : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(wrap(new HttpClientHandler()), disposeHandler: true);

        public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => false;

        public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;
    }
}
