using System.Net;
using System.Text.RegularExpressions;
using Immutable.Build.Images;

namespace Immutable.Build.Registry;

/// <summary>Registry hosts, repository names and references as the distribution API accepts them.</summary>
internal static partial class RegistryNames
{
    /// <summary>The key Docker uses for Docker Hub in config.json and for its credential helpers.</summary>
    public const string DockerHubServerAddress = "https://index.docker.io/v1/";

    /// <summary>
    /// Resolves <c>host[:port]</c> to the base address. Loopback and the hosts listed in
    /// DOTNET_CONTAINER_INSECURE_REGISTRIES speak plain HTTP (the SDK's rule); every other host HTTPS.
    /// </summary>
    public static (string Name, Uri BaseAddress, bool PlainHttp) ResolveRegistry(string registry, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var name = registry.Trim().TrimEnd('/');
        bool? explicitPlain = null;
        if (name.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            explicitPlain = true;
            name = name[7..];
        }
        else if (name.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            explicitPlain = false;
            name = name[8..];
        }

        if (name.Length == 0
            || name.Contains('/', StringComparison.Ordinal)
            || name.Contains('@', StringComparison.Ordinal)
            || !Uri.TryCreate("https://" + name + "/", UriKind.Absolute, out var probe)
            || probe.Host.Length == 0
            || probe.AbsolutePath != "/")
        {
            throw RegistryErrors.Error(
                RegistryErrors.InvalidName,
                $"'{registry}' is not a registry address; expected host[:port], e.g. ghcr.io or 127.0.0.1:5000.");
        }

        name = name.ToLowerInvariant();
        if (name is "docker.io" or "index.docker.io")
        {
            name = ImageReference.DockerHub;
        }

        var plain = explicitPlain ?? (IsLoopback(probe) || IsListedInsecure(name, environment));
        var scheme = plain ? "http" : "https";
        return (name, new Uri($"{scheme}://{name}/"), plain);
    }

    /// <summary>localhost, 127.0.0.0/8 and ::1: no certificate can exist for them, and nothing leaves the machine.</summary>
    public static bool IsLoopback(Uri address) =>
        address.IsLoopback
        || string.Equals(address.DnsSafeHost, "localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(address.DnsSafeHost, out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>
    /// The SDK's DOTNET_CONTAINER_INSECURE_REGISTRIES (and its older SDK_ name): ';'-separated
    /// host[:port] entries, compared whole and case-insensitively. ',' is accepted as well because
    /// several published guides show a comma-separated list.
    /// </summary>
    public static bool IsListedInsecure(string name, Func<string, string?> environment)
    {
        foreach (var variable in new[] { "DOTNET_CONTAINER_INSECURE_REGISTRIES", "SDK_CONTAINER_INSECURE_REGISTRIES" })
        {
            var list = environment(variable);
            if (string.IsNullOrWhiteSpace(list))
            {
                continue;
            }

            foreach (var entry in list.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (string.Equals(entry, name, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Throws IMB2013 unless <paramref name="repository"/> is a valid repository name.</summary>
    public static string ValidateRepository(string repository)
    {
        ArgumentNullException.ThrowIfNull(repository);
        if (repository.Length is 0 or > 255 || !RepositoryPattern().IsMatch(repository))
        {
            throw RegistryErrors.Error(
                RegistryErrors.InvalidName,
                $"'{repository}' is not a repository name; use lowercase path components of [a-z0-9] separated by '.', '_', '__' or '-', joined by '/', e.g. team/app.");
        }

        return repository;
    }

    /// <summary>Throws IMB2013 unless <paramref name="reference"/> is a tag or a sha256 digest.</summary>
    public static string ValidateReference(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (Digest.TryParse(reference, out _) || ImageReference.IsValidTag(reference))
        {
            return reference;
        }

        throw RegistryErrors.Error(
            RegistryErrors.InvalidName,
            $"'{reference}' is neither a tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}) nor a sha256 digest.");
    }

    /// <summary>Throws IMB2013 unless <paramref name="tag"/> is a valid tag.</summary>
    public static string ValidateTag(string tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        return ImageReference.IsValidTag(tag)
            ? tag
            : throw RegistryErrors.Error(RegistryErrors.InvalidName, $"'{tag}' is not a valid tag; a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}.");
    }

    [GeneratedRegex("^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$", RegexOptions.CultureInvariant)]
    private static partial Regex RepositoryPattern();
}
