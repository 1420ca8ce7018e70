using System.Text;
using System.Text.Json;

namespace Immutable.Build.Registry;

/// <summary>The credential parts of Docker's config.json, with Docker's rules for matching a registry to a key.</summary>
internal sealed class DockerConfig
{
    private readonly DockerConfigFile _file;

    private DockerConfig(string path, DockerConfigFile file)
    {
        Path = path;
        _file = file;
    }

    public string Path { get; }

    public string? CredsStore => string.IsNullOrWhiteSpace(_file.CredsStore) ? null : _file.CredsStore.Trim();

    /// <summary>$DOCKER_CONFIG/config.json, else ~/.docker/config.json.</summary>
    public static string? Locate(Func<string, string?> environment)
    {
        if (environment("DOCKER_CONFIG") is { Length: > 0 } dir)
        {
            return System.IO.Path.Combine(dir, "config.json");
        }

        // Only the given environment counts, so a caller's override never falls back to this machine's real home.
        var home = environment("HOME") is { Length: > 0 } h ? h : environment("USERPROFILE");
        return string.IsNullOrEmpty(home) ? null : System.IO.Path.Combine(home, ".docker", "config.json");
    }

    public static DockerConfig? Load(string? path)
    {
        if (path is null || !File.Exists(path))
        {
            return null;
        }

        try
        {
            using var stream = File.OpenRead(path);
            var file = JsonSerializer.Deserialize(stream, RegistryJsonContext.Default.DockerConfigFile) ?? new DockerConfigFile();
            return new DockerConfig(path, file);
        }
        catch (JsonException e)
        {
            // The exception text is left out: it could quote part of a stored secret.
            throw RegistryErrors.Error(
                RegistryErrors.DockerConfigInvalid,
                $"Docker's config file {path} is not valid JSON (line {e.LineNumber + 1}). Fix or remove it, or run `docker login` again.");
        }
        catch (IOException e)
        {
            throw RegistryErrors.Error(RegistryErrors.DockerConfigInvalid, $"Docker's config file {path} cannot be read: {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw RegistryErrors.Error(RegistryErrors.DockerConfigInvalid, $"Docker's config file {path} cannot be read: {e.Message}", e);
        }
    }

    /// <summary>The credHelpers entry for the registry: (config key, helper name).</summary>
    public (string Key, string Helper)? FindHelper(string registry)
    {
        var match = Find(_file.CredHelpers, registry);
        return match is { } m && !string.IsNullOrWhiteSpace(m.Value) ? (m.Key, m.Value.Trim()) : null;
    }

    /// <summary>The auths key for the registry, with or without credentials in it (credsStore setups keep empty entries).</summary>
    public (string Key, DockerAuthEntry Entry)? FindAuth(string registry)
    {
        var match = Find(_file.Auths, registry);
        return match is { } m ? (m.Key, m.Value ?? new DockerAuthEntry()) : null;
    }

    /// <summary>The credentials stored inline in an auths entry; null for an empty entry.</summary>
    public RegistryCredential? ReadInline(string key, DockerAuthEntry entry)
    {
        var source = $"{Path} auths[\"{key}\"]";
        string? username = entry.Username;
        string? password = entry.Password;
        if (!string.IsNullOrEmpty(entry.Auth))
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(entry.Auth.Trim()));
            }
            catch (FormatException)
            {
                throw Invalid(key);
            }

            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                throw Invalid(key);
            }

            username = decoded[..colon];
            password = decoded[(colon + 1)..];
        }

        if (!string.IsNullOrEmpty(entry.IdentityToken))
        {
            return RegistryCredential.FromIdentityToken(entry.IdentityToken, username, source);
        }

        if (string.IsNullOrEmpty(username) || string.IsNullOrEmpty(password))
        {
            return null;
        }

        return RegistryCredential.FromPassword(username, password, source);
    }

    /// <summary>
    /// Keys are matched the way Docker does: scheme and path are ignored, so "https://ghcr.io",
    /// "ghcr.io/v1/" and "ghcr.io" are the same key; Docker Hub answers to its historical index URL.
    /// An exact key wins over a normalized one.
    /// </summary>
    private static KeyValuePair<string, T>? Find<T>(Dictionary<string, T>? entries, string registry)
    {
        if (entries is null || entries.Count == 0)
        {
            return null;
        }

        var wanted = Aliases(registry);
        foreach (var entry in entries)
        {
            if (string.Equals(entry.Key, registry, StringComparison.OrdinalIgnoreCase))
            {
                return entry;
            }
        }

        foreach (var entry in entries)
        {
            if (wanted.Contains(Normalize(entry.Key)))
            {
                return entry;
            }
        }

        return null;
    }

    private static HashSet<string> Aliases(string registry)
    {
        var name = Normalize(registry);
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { name };
        if (IsDockerHub(name))
        {
            set.UnionWith(["index.docker.io", "docker.io", "registry-1.docker.io"]);
        }

        return set;
    }

    public static bool IsDockerHub(string registry) =>
        Normalize(registry) is "index.docker.io" or "docker.io" or "registry-1.docker.io";

    private static string Normalize(string key)
    {
        var k = key.Trim();
        var scheme = k.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            k = k[(scheme + 3)..];
        }

        var slash = k.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            k = k[..slash];
        }

        return k.ToLowerInvariant();
    }

    private ImmutableBuildException Invalid(string key) => RegistryErrors.Error(
        RegistryErrors.DockerConfigInvalid,
        $"The auths[\"{key}\"] entry of {Path} has an 'auth' value that is not base64 of username:password. Run `docker login {key}` again or remove the entry.");
}
