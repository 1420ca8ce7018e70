using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.X509;

namespace Immutable.Build.Docker;

/// <summary>A Docker Engine API endpoint: a unix socket or a tcp address (with TLS client certificates when a certificate folder is given).</summary>
public sealed record DockerEndpoint(Uri Address)
{
    /// <summary>Parses <c>unix:///path</c>, <c>tcp://host:port</c> or a bare socket path.</summary>
    public static DockerEndpoint Parse(string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        value = value.Trim();
        if (value.StartsWith('/'))
        {
            value = "unix://" + value;
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != "unix" && uri.Scheme != "tcp" && uri.Scheme != "npipe"))
        {
            throw DockerErrors.Endpoint($"'{value}' is not a Docker endpoint. Use unix:///var/run/docker.sock or tcp://host:2376.");
        }

        return new DockerEndpoint(uri);
    }

    /// <summary>True for a unix socket or named pipe (the engine runs on this machine).</summary>
    public bool IsLocal => Address.Scheme is "unix" or "npipe";

    /// <summary>Opens an Engine API client for this endpoint; over tcp with <paramref name="tlsCertPath"/> (ca.pem, cert.pem, key.pem) it verifies the engine against ca.pem and authenticates with the client certificate.</summary>
    public IDockerClient CreateClient(string? tlsCertPath = null)
    {
        var builder = new DockerClientBuilder().WithEndpoint(Address);
        if (!IsLocal && !string.IsNullOrWhiteSpace(tlsCertPath))
        {
            foreach (var file in new[] { "ca.pem", "cert.pem", "key.pem" })
            {
                if (!File.Exists(Path.Combine(tlsCertPath, file)))
                {
                    throw DockerErrors.Setting("ImmutableDockerTlsCertPath", tlsCertPath, $"the folder must hold ca.pem, cert.pem and key.pem ({file} is missing)");
                }
            }

            var certificates = DockerTlsCertificates.LoadFromDirectory(tlsCertPath, true, "ca.pem", "cert.pem", "key.pem");
            builder = builder.WithAuthProvider(certificates.CreateCredentials());
        }

        return builder.Build();
    }

    /// <inheritdoc />
    public override string ToString() => Address.ToString();
}

/// <summary>
/// One entry of ImmutableDockerHosts: the engine endpoint, plus options for hosts that share a machine or sit behind
/// another address, given as a query: <c>tcp://10.0.0.5:2376?proxyPort=80&amp;ports=21000-21999</c>.
/// </summary>
/// <param name="Endpoint">The Engine API endpoint.</param>
/// <param name="Name">How messages name the host (the entry without its query).</param>
/// <param name="Address">Where this machine reaches the host's ports (health checks): 127.0.0.1 for a local socket, else the tcp host; <c>address=</c>.</param>
/// <param name="ProxyPort">The app's stable port on the host; <c>proxyPort=</c>, default ImmutableDockerProxyPort.</param>
/// <param name="ProxyListen">The proxy's listen address; <c>listen=</c>, default 0.0.0.0.</param>
/// <param name="FirstPort">The first port of the range for instances; <c>ports=first-last</c>, default 20000-20999.</param>
/// <param name="LastPort">The last port of that range.</param>
public sealed record DockerHostEntry(DockerEndpoint Endpoint, string Name, string Address, int ProxyPort, string ProxyListen, int FirstPort, int LastPort)
{
    /// <summary>The default instance port range.</summary>
    public const int DefaultFirstPort = 20000;

    /// <summary>The default instance port range's end.</summary>
    public const int DefaultLastPort = 20999;

    /// <summary>Where instances bind: loopback when the host is reached on loopback, else every interface.</summary>
    public string BindAddress => Address is "127.0.0.1" or "localhost" or "::1" ? "127.0.0.1" : "0.0.0.0";

    /// <summary>Parses ImmutableDockerHosts (entries separated by ';' or new lines).</summary>
    public static IReadOnlyList<DockerHostEntry> ParseList(string? hosts, int defaultProxyPort, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var text = string.IsNullOrWhiteSpace(hosts) ? environment("DOCKER_HOST") : hosts;
        if (string.IsNullOrWhiteSpace(text))
        {
            text = "unix:///var/run/docker.sock";
        }

        var entries = text.Split([';', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(e => Parse(e, defaultProxyPort)).ToList();
        var duplicate = entries.GroupBy(e => e.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw DockerErrors.Endpoint($"ImmutableDockerHosts names {duplicate.Key} twice; list each host once.");
        }

        return entries;
    }

    /// <summary>Parses one entry.</summary>
    public static DockerHostEntry Parse(string entry, int defaultProxyPort)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entry);
        var query = entry.IndexOf('?', StringComparison.Ordinal);
        var name = query < 0 ? entry.Trim() : entry[..query].Trim();
        var endpoint = DockerEndpoint.Parse(name);
        var options = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (query >= 0)
        {
            foreach (var pair in entry[(query + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0)
                {
                    throw DockerErrors.Endpoint($"'{pair}' in the Docker host entry '{entry}' is not name=value; the options are address, proxyPort, listen and ports.");
                }

                options[pair[..equals]] = Uri.UnescapeDataString(pair[(equals + 1)..]);
            }
        }

        foreach (var key in options.Keys.Where(k => k is not ("address" or "proxyPort" or "listen" or "ports")))
        {
            throw DockerErrors.Endpoint($"'{key}' in the Docker host entry '{entry}' is not an option; the options are address, proxyPort, listen and ports.");
        }

        var address = options.GetValueOrDefault("address") ?? (endpoint.IsLocal ? "127.0.0.1" : endpoint.Address.Host);
        var proxyPort = options.TryGetValue("proxyPort", out var p) ? Port(p, entry, "proxyPort") : defaultProxyPort;
        var listen = options.GetValueOrDefault("listen") ?? "0.0.0.0";
        if (!System.Net.IPAddress.TryParse(listen, out _))
        {
            throw DockerErrors.Endpoint($"listen='{listen}' in the Docker host entry '{entry}' is not an IP address (0.0.0.0, 127.0.0.1, ...).");
        }

        var (first, last) = (DefaultFirstPort, DefaultLastPort);
        if (options.TryGetValue("ports", out var range))
        {
            var parts = range.Split('-', 2);
            if (parts.Length != 2)
            {
                throw DockerErrors.Endpoint($"ports='{range}' in the Docker host entry '{entry}' is not a range; write first-last, e.g. 21000-21999.");
            }

            (first, last) = (Port(parts[0], entry, "ports"), Port(parts[1], entry, "ports"));
            if (last < first)
            {
                throw DockerErrors.Endpoint($"ports='{range}' in the Docker host entry '{entry}' ends before it starts.");
            }
        }

        if (proxyPort >= first && proxyPort <= last)
        {
            throw DockerErrors.Endpoint($"The proxy port {proxyPort} of the Docker host entry '{entry}' lies inside its instance port range {first}-{last}; move one of them.");
        }

        return new DockerHostEntry(endpoint, name, address, proxyPort, listen, first, last);
    }

    private static int Port(string value, string entry, string option) =>
        int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536
            ? port
            : throw DockerErrors.Endpoint($"{option}='{value}' in the Docker host entry '{entry}' is not a TCP port (1-65535).");
}
