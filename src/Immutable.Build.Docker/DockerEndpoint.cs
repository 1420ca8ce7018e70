using Docker.DotNet;

namespace Immutable.Build.Docker;

/// <summary>A Docker Engine API endpoint: a unix socket or a tcp address.</summary>
public sealed record DockerEndpoint(Uri Address)
{
    /// <summary>Parses <c>unix:///path</c>, <c>tcp://host:port</c> or a bare socket path.</summary>
    public static DockerEndpoint Parse(string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        if (value.StartsWith('/'))
        {
            value = "unix://" + value;
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != "unix" && uri.Scheme != "tcp" && uri.Scheme != "npipe"))
        {
            throw new ImmutableBuildException("IMB5001", $"'{value}' is not a Docker endpoint. Use unix:///var/run/docker.sock or tcp://host:2376.");
        }

        return new DockerEndpoint(uri);
    }

    /// <summary>Opens an Engine API client for this endpoint.</summary>
    public IDockerClient CreateClient() => new DockerClientBuilder().WithEndpoint(Address).Build();
}
