using Amazon.Runtime;

namespace Immutable.Build.Aws.Elb;

/// <summary>Where <see cref="ElbQueryClient"/> sends its calls and how it signs them.</summary>
public sealed record ElbClientOptions
{
    /// <summary>The endpoint, e.g. https://elasticloadbalancing.eu-west-1.amazonaws.com/ or a test server.</summary>
    public required Uri Endpoint { get; init; }

    /// <summary>The region the signature is scoped to.</summary>
    public required string Region { get; init; }

    /// <summary>The credentials of each call, asked for per call so that refreshed role credentials are used.</summary>
    public required Func<ImmutableCredentials> Credentials { get; init; }

    /// <summary>The signing clock (the SigV4 date); tests give a fake one.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How long one call may take.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Test hook: wraps the HTTP handler (counting calls, injecting a fault). Null in production.</summary>
    public Func<HttpMessageHandler, HttpMessageHandler>? WrapHandler { get; init; }
}
