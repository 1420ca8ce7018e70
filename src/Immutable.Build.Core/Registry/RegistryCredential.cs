namespace Immutable.Build.Registry;

/// <summary>
/// Credentials for one registry: a username and password, or an identity token (an OAuth refresh
/// token, what Docker stores after an interactive login). <see cref="ToString"/> never shows the secret.
/// </summary>
public sealed class RegistryCredential
{
    /// <summary>The username Docker's credential helpers use to say the secret is an identity token.</summary>
    public const string IdentityTokenUsername = "<token>";

    private RegistryCredential(string? username, string? password, string? identityToken, string source)
    {
        Username = username;
        Password = password;
        IdentityToken = identityToken;
        Source = source;
    }

    /// <summary>The user name; <c>&lt;token&gt;</c> or null with an identity token.</summary>
    public string? Username { get; }

    /// <summary>The password or access token sent with Basic authentication.</summary>
    public string? Password { get; }

    /// <summary>The identity (refresh) token exchanged at the token service with an OAuth2 refresh_token grant.</summary>
    public string? IdentityToken { get; }

    /// <summary>Where the credential was found, for messages ("docker-credential-pass", "~/.docker/config.json auths").</summary>
    public string Source { get; }

    /// <summary>A username and password (or personal access token).</summary>
    public static RegistryCredential FromPassword(string username, string password, string source = "explicit credentials")
    {
        ArgumentException.ThrowIfNullOrEmpty(username);
        ArgumentException.ThrowIfNullOrEmpty(password);
        return username == IdentityTokenUsername
            ? FromIdentityToken(password, source: source)
            : new RegistryCredential(username, password, null, source);
    }

    /// <summary>An identity token, optionally with the username it belongs to.</summary>
    public static RegistryCredential FromIdentityToken(string identityToken, string? username = null, string source = "explicit credentials")
    {
        ArgumentException.ThrowIfNullOrEmpty(identityToken);
        return new RegistryCredential(string.IsNullOrEmpty(username) ? IdentityTokenUsername : username, null, identityToken, source);
    }

    /// <summary>The secret used for Basic authentication: the password, or the identity token when there is no password.</summary>
    internal string BasicSecret => Password ?? IdentityToken ?? "";

    internal IEnumerable<string> Secrets()
    {
        if (Password is { Length: > 0 } p)
        {
            yield return p;
        }

        if (IdentityToken is { Length: > 0 } t)
        {
            yield return t;
        }
    }

    /// <summary>Names the user and the source, never the secret.</summary>
    public override string ToString() =>
        IdentityToken is null ? $"{Username} (password from {Source})" : $"{Username} (identity token from {Source})";
}
