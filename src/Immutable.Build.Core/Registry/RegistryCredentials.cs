namespace Immutable.Build.Registry;

/// <summary>
/// Finds the credentials for a registry the way the .NET SDK and Docker do, first match wins:
/// <list type="number">
/// <item>DOTNET_CONTAINER_REGISTRY_UNAME / DOTNET_CONTAINER_REGISTRY_PWORD (or their older SDK_ names), for every registry;</item>
/// <item>Docker's config.json ($DOCKER_CONFIG/config.json or ~/.docker/config.json): a <c>credHelpers</c> entry for the registry;</item>
/// <item>an <c>auths</c> entry with inline credentials (base64 <c>auth</c>, <c>username</c>/<c>password</c>, <c>identitytoken</c>);</item>
/// <item>the <c>credsStore</c> helper.</item>
/// </list>
/// A per-registry setting beats the catch-all store, as in Docker. Nothing found means anonymous access.
/// </summary>
public sealed class RegistryCredentials
{
    private readonly Func<string, string?> _environment;
    private readonly Action<string>? _log;

    /// <summary>
    /// Creates a resolver. <paramref name="getEnvironmentVariable"/> replaces the process environment
    /// (HOME, DOCKER_CONFIG, PATH for the helpers and the SDK's variables), so callers and tests need
    /// not change the process's own.
    /// </summary>
    public RegistryCredentials(Func<string, string?>? getEnvironmentVariable = null, Action<string>? log = null)
    {
        _environment = getEnvironmentVariable ?? Environment.GetEnvironmentVariable;
        _log = log;
    }

    /// <summary>How long a credential helper may take before it is killed.</summary>
    public TimeSpan HelperTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The credentials for <paramref name="registry"/> (host[:port]); null for anonymous access.</summary>
    public async Task<RegistryCredential?> ResolveAsync(string registry, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(registry);
        foreach (var prefix in new[] { "DOTNET", "SDK" })
        {
            var user = _environment($"{prefix}_CONTAINER_REGISTRY_UNAME");
            var password = _environment($"{prefix}_CONTAINER_REGISTRY_PWORD");
            if (!string.IsNullOrEmpty(user) && !string.IsNullOrEmpty(password))
            {
                Log($"credentials for {registry}: {prefix}_CONTAINER_REGISTRY_UNAME/PWORD");
                return RegistryCredential.FromPassword(user, password, $"{prefix}_CONTAINER_REGISTRY_UNAME/PWORD");
            }
        }

        var config = DockerConfig.Load(DockerConfig.Locate(_environment));
        if (config is null)
        {
            return null;
        }

        var auth = config.FindAuth(registry);
        var serverAddress = auth?.Key ?? (DockerConfig.IsDockerHub(registry) ? RegistryNames.DockerHubServerAddress : registry);
        if (config.FindHelper(registry) is { } helper)
        {
            Log($"credentials for {registry}: docker-credential-{helper.Helper} (credHelpers in {config.Path})");
            return await CredentialHelper.GetAsync(helper.Helper, helper.Key, _environment, HelperTimeout, cancellationToken);
        }

        if (auth is { } a && config.ReadInline(a.Key, a.Entry) is { } inline)
        {
            Log($"credentials for {registry}: {inline.Source}");
            return inline;
        }

        if (config.CredsStore is { } store)
        {
            if (CredentialHelper.Find("docker-credential-" + store, _environment) is null)
            {
                // Docker Desktop writes credsStore into configs that are later copied to machines
                // without it; anonymous access still works for public images there.
                Log($"warning: credsStore '{store}' in {config.Path} is not installed (docker-credential-{store} is not on PATH); continuing without credentials for {registry}");
                return null;
            }

            Log($"credentials for {registry}: docker-credential-{store} (credsStore in {config.Path})");
            return await CredentialHelper.GetAsync(store, serverAddress, _environment, HelperTimeout, cancellationToken);
        }

        return null;
    }

    private void Log(string line) => _log?.Invoke(line);
}
