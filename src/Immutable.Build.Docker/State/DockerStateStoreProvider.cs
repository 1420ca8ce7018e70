using Immutable.Build.Docker.State;
using Immutable.Build.State;
using Immutable.Build.Targets;

[assembly: StateStoreProvider(typeof(DockerStateStoreProvider))]

namespace Immutable.Build.Docker.State;

/// <summary>
/// ImmutableStateUrl=docker://: the lock, journal and ledger kept on a Docker host, so every runner that deploys to
/// the hosts shares them without another service. <c>docker://</c> is the first host of ImmutableDockerHosts;
/// <c>docker://&lt;entry&gt;</c> names another of them. The host is reached as the Docker target reaches it
/// (endpoint, TLS folder).
/// </summary>
public sealed class DockerStateStoreProvider : IStateStoreProvider
{
    /// <inheritdoc />
    public string Scheme => "docker";

    /// <inheritdoc />
    public IReadOnlyList<TargetSetting> Settings { get; } =
        DockerSettings.All.Where(s => s.Property is DockerSettings.Hosts or DockerSettings.TlsCertPath or DockerSettings.ProxyPort).ToList();

    /// <inheritdoc />
    public IStateStore Open(Uri url, StateContext context)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(context);
        var entry = Host(url, context);
        var tls = DockerTargetProvider.TlsCertPath(context.Setting(DockerSettings.TlsCertPath), context.GetEnvironmentVariable);
        var objects = new DockerStateObjects(entry.Endpoint.CreateClient(tls), $"docker://{entry.Name}");
        return new ConditionalStateStore(objects, context.SharedOptions());
    }

    /// <summary>The host entry the URL names.</summary>
    internal static DockerHostEntry Host(Uri url, StateContext context)
    {
        var text = url.OriginalString.Trim();
        if (!text.StartsWith("docker:", StringComparison.OrdinalIgnoreCase))
        {
            throw Invalid(text, "it is not a docker:// URL");
        }

        var named = text["docker:".Length..].TrimStart('/');
        var hosts = context.Setting(DockerSettings.Hosts) ?? context.GetEnvironmentVariable("DOCKER_HOST");
        if (string.IsNullOrWhiteSpace(hosts))
        {
            // The target would fall back to this machine's socket; a state only this machine sees is not shared, so the host is asked for.
            throw Invalid(text, "there is no Docker host to keep it on; set ImmutableDockerHosts (or DOCKER_HOST)");
        }

        var entries = DockerHostEntry.ParseList(hosts, DockerTargetProvider.ParseProxyPort(context.Setting(DockerSettings.ProxyPort)), context.GetEnvironmentVariable);
        if (named.Length == 0)
        {
            return entries[0];
        }

        var query = named.IndexOf('?', StringComparison.Ordinal);
        var name = (query < 0 ? named : named[..query]).Trim();
        return entries.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.Ordinal) || string.Equals(e.Endpoint.Address.ToString(), name, StringComparison.Ordinal))
            ?? throw Invalid(text, $"{name} is not one of ImmutableDockerHosts ({string.Join("; ", entries.Select(e => e.Name))}); use docker:// for the first host or docker://<one of them>");
    }

    private static ImmutableBuildException Invalid(string url, string why) =>
        new(StateErrors.InvalidStateUrl, $"ImmutableStateUrl '{url}' cannot be used: {why}.");
}
