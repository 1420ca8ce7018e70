namespace Immutable.Build.Docker;

/// <summary>The IMB5xxx errors of the Docker target (listed with their fixes in docs/errors.md).</summary>
internal static class DockerErrors
{
    /// <summary>An endpoint or host entry that does not parse.</summary>
    public static ImmutableBuildException Endpoint(string message) => new("IMB5001", message);

    /// <summary>A Docker setting with a value it cannot take.</summary>
    public static ImmutableBuildException Setting(string property, string? value, string expected) =>
        new("IMB5002", $"{property}='{value}' is not valid: {expected}.");

    /// <summary>The code of <see cref="Host"/>.</summary>
    public const string HostCode = "IMB5003";

    /// <summary>A host that does not answer (or answers with an error) on the Engine API.</summary>
    public static ImmutableBuildException Host(string host, string what, Exception e) =>
        new(HostCode, $"Docker host {host}: {what} failed: {Describe(e)}. Check that the engine runs and the endpoint (ImmutableDockerHosts) and TLS files are right.", e);

    /// <summary>The release image could not be pulled or loaded.</summary>
    public static ImmutableBuildException Image(string host, string image, string why) =>
        new("IMB5004", $"Docker host {host} could not get the release image {image}: {why}. Check that the registry is reachable from the host and its credentials (DOCKER_CONFIG, IMMUTABLE_REGISTRY_*), or that the release's OCI layout still exists.");

    /// <summary>The per-host proxy could not be started.</summary>
    public static ImmutableBuildException Proxy(string host, string why) =>
        new("IMB5005", $"The proxy of Docker host {host} did not start: {why}. The proxy runs on the release image's .NET runtime (dotnet on PATH, ASP.NET Core 8 or later): publish with an ASP.NET Core base image, and check that ImmutableDockerProxyPort is free on the host.");

    /// <summary>No free instance port left in a host's range.</summary>
    public static ImmutableBuildException Ports(string host, string range) =>
        new("IMB5006", $"Docker host {host} has no free instance port left in {range}. Give the host a larger range (ports=20000-20999 in its ImmutableDockerHosts entry) or prune old releases.");

    /// <summary>The proxy did not confirm new routes in time.</summary>
    public static ImmutableBuildException Routes(string host, string why) =>
        new("IMB5007", $"The proxy of Docker host {host} did not apply the new routes: {why}. Read its log with `docker logs` on the proxy container.");

    private static string Describe(Exception e) => e switch
    {
        global::Docker.DotNet.DockerApiException api => $"{(int)api.StatusCode} {api.ResponseBody?.Trim()}",
        AggregateException { InnerExceptions.Count: 1 } aggregate => Describe(aggregate.InnerExceptions[0]),
        _ when e.InnerException is { } inner && e is HttpRequestException or TimeoutException or IOException => $"{e.Message} ({inner.Message})",
        _ => e.Message,
    };
}
