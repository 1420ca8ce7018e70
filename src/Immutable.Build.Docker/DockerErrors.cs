namespace Immutable.Build.Docker;

/// <summary>The IMB5xxx codes of the Docker target, each with its cause and fix, and one factory per code so messages stay consistent.</summary>
internal static class DockerErrors
{
    [ErrorCode(
        "A Docker endpoint or an ImmutableDockerHosts entry does not parse (not unix://, tcp:// or npipe://; an unknown or malformed option; a host listed twice; a proxy port inside the instance port range).",
        "Use unix:///var/run/docker.sock or tcp://host:2376, with options as a query: ?proxyPort=80&ports=21000-21999&listen=0.0.0.0&address=10.0.0.5.")]
    public const string EndpointCode = "IMB5001";

    [ErrorCode(
        "An ImmutableDocker* setting has a value it cannot take (proxy port, host batch, restart policy, memory, CPUs, stop grace, TLS folder without ca.pem/cert.pem/key.pem, replicas).",
        "Correct the value named in the message.")]
    public const string SettingCode = "IMB5002";

    [ErrorCode(
        "A Docker host did not answer on the Engine API, or answered with an error; the message names the host and the call.",
        "Check that the engine runs, the endpoint in ImmutableDockerHosts, and the TLS files (ImmutableDockerTlsCertPath). A rollout that hits it rolls back on every host it can reach; the rest is converged by the next deploy or `immutable status --repair` once the host answers.")]
    public const string HostCode = "IMB5003";

    [ErrorCode(
        "A host could not get the release image: the pull by digest failed (registry unreachable from the host, or credentials refused) or the release's OCI layout is gone.",
        "Make the registry reachable from the host and its credentials available (Docker's config.json or its credential helpers, DOTNET_CONTAINER_REGISTRY_UNAME/PWORD), or publish the release again.")]
    public const string ImageCode = "IMB5004";

    [ErrorCode(
        "The app's proxy container did not start on a host; the message carries the proxy's last output.",
        "The proxy runs on the release image's .NET runtime: publish on an ASP.NET Core base image (8.0 or later, `dotnet` on PATH), and keep ImmutableDockerProxyPort free on the host.")]
    public const string ProxyCode = "IMB5005";

    [ErrorCode(
        "A host has no free port left in its instance port range.",
        "Give the host a larger range (`ports=first-last` in its ImmutableDockerHosts entry) or prune old releases.")]
    public const string PortsCode = "IMB5006";

    [ErrorCode(
        "A host's proxy did not confirm new routes within 15 s.",
        "Read its output with `docker logs immutable-proxy-<app>.<environment>`; the next deploy or `immutable status --repair` routes again.")]
    public const string RoutesCode = "IMB5007";

    /// <summary>An endpoint or host entry that does not parse.</summary>
    public static ImmutableBuildException Endpoint(string message) => new(EndpointCode, message);

    /// <summary>A Docker setting with a value it cannot take.</summary>
    public static ImmutableBuildException Setting(string property, string? value, string expected) =>
        new(SettingCode, $"{property}='{value}' is not valid: {expected}.");

    /// <summary>A host that does not answer (or answers with an error) on the Engine API.</summary>
    public static ImmutableBuildException Host(string host, string what, Exception e) =>
        new(HostCode, $"Docker host {host}: {what} failed: {Describe(e)}. Check that the engine runs and the endpoint (ImmutableDockerHosts) and TLS files are right.", e);

    /// <summary>The release image could not be pulled or loaded.</summary>
    public static ImmutableBuildException Image(string host, string image, string why) =>
        new(ImageCode, $"Docker host {host} could not get the release image {image}: {why}. Check that the registry is reachable from the host and its credentials (Docker's config.json or its credential helpers, DOTNET_CONTAINER_REGISTRY_UNAME/PWORD), or that the release's OCI layout still exists.");

    /// <summary>The per-host proxy could not be started.</summary>
    public static ImmutableBuildException Proxy(string host, string why) =>
        new(ProxyCode, $"The proxy of Docker host {host} did not start: {why}. The proxy runs on the release image's .NET runtime (dotnet on PATH, ASP.NET Core 8 or later): publish with an ASP.NET Core base image, and check that ImmutableDockerProxyPort is free on the host.");

    /// <summary>No free instance port left in a host's range.</summary>
    public static ImmutableBuildException Ports(string host, string range) =>
        new(PortsCode, $"Docker host {host} has no free instance port left in {range}. Give the host a larger range (ports=20000-20999 in its ImmutableDockerHosts entry) or prune old releases.");

    /// <summary>The proxy did not confirm new routes in time.</summary>
    public static ImmutableBuildException Routes(string host, string why) =>
        new(RoutesCode, $"The proxy of Docker host {host} did not apply the new routes: {why}. Read its log with `docker logs` on the proxy container.");

    private static string Describe(Exception e) => e switch
    {
        global::Docker.DotNet.DockerApiException api => $"{(int)api.StatusCode} {api.ResponseBody?.Trim()}",
        AggregateException { InnerExceptions.Count: 1 } aggregate => Describe(aggregate.InnerExceptions[0]),
        _ when e.InnerException is { } inner && e is HttpRequestException or TimeoutException or IOException => $"{e.Message} ({inner.Message})",
        _ => e.Message,
    };
}
