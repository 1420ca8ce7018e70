using Immutable.Build.State;

namespace Immutable.Build.Deployments;

/// <summary>
/// Which state store a deployment uses: the state directory's files unless ImmutableStateUrl (--state-url,
/// IMMUTABLE_STATE_URL) names a shared one, whose provider (s3, docker) is found beside Core through
/// <see cref="StateStoreProviderAttribute"/>.
/// </summary>
public static class StateStores
{
    /// <summary>The environment variable that gives the state URL when no property or option does.</summary>
    public const string UrlVariable = "IMMUTABLE_STATE_URL";

    private static readonly Lazy<IReadOnlyList<IStateStoreProvider>> Found = new(Discover);

    /// <summary>The shared stores found beside Core.</summary>
    public static IReadOnlyList<IStateStoreProvider> Discovered => Found.Value;

    /// <summary>The state URL given, else IMMUTABLE_STATE_URL; null for the state directory.</summary>
    public static string? Url(string? configured, Func<string, string?>? getEnvironmentVariable = null) =>
        !string.IsNullOrWhiteSpace(configured) ? configured.Trim()
        : (getEnvironmentVariable ?? Environment.GetEnvironmentVariable)(UrlVariable) is { Length: > 0 } fromEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment) ? fromEnvironment.Trim()
        : null;

    /// <summary>
    /// Opens the store of <paramref name="url"/>: null, empty or <c>file</c> is the state directory; <c>file:///path</c> another
    /// directory; any other scheme its provider's (IMB6203 when none answers to it).
    /// </summary>
    public static IStateStore Open(string? url, string stateDirectory, StateContext context, IReadOnlyList<IStateStoreProvider>? providers = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        var origin = RecordOrigin.Current(context.GetEnvironmentVariable);
        if (string.IsNullOrWhiteSpace(url) || string.Equals(url.Trim(), "file", StringComparison.OrdinalIgnoreCase))
        {
            return new FileStateStore(stateDirectory, context.Time, origin);
        }

        var all = providers ?? Discovered;
        var schemes = string.Join(", ", ["file", .. all.Select(p => p.Scheme + "://")]);
        if (!Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri))
        {
            throw new ImmutableBuildException(StateErrors.InvalidStateUrl, $"ImmutableStateUrl='{url}' is not a URL; use {schemes}, or leave it empty for the state directory.");
        }

        if (uri.IsFile)
        {
            return new FileStateStore(uri.LocalPath, context.Time, origin);
        }

        var provider = all.FirstOrDefault(p => string.Equals(p.Scheme, uri.Scheme, StringComparison.OrdinalIgnoreCase))
            ?? throw new ImmutableBuildException(StateErrors.InvalidStateUrl, $"ImmutableStateUrl='{url}': no state store answers to '{uri.Scheme}://' here; use {schemes}, or leave it empty for the state directory.");
        return provider.Open(uri, context);
    }

    private static IReadOnlyList<IStateStoreProvider> Discover()
    {
        var providers = new List<IStateStoreProvider>();
        foreach (var type in ProviderAssemblies.Named<StateStoreProviderAttribute>(a => a.ProviderType))
        {
            if (typeof(IStateStoreProvider).IsAssignableFrom(type)
                && Activator.CreateInstance(type) is IStateStoreProvider provider
                && !providers.Any(p => string.Equals(p.Scheme, provider.Scheme, StringComparison.OrdinalIgnoreCase)))
            {
                providers.Add(provider);
            }
        }

        return providers;
    }
}
