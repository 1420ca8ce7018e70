using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Immutable.Build.Registry;

/// <summary>
/// Authentication for one registry. Anonymous until the registry answers 401; from then on every
/// request carries what its challenge asked for: Basic credentials, or a bearer token fetched from
/// the challenge's realm for the request's scope, cached until shortly before it expires and
/// fetched again when the registry answers 401 to it.
/// </summary>
internal sealed class RegistryAuthenticator
{
    private const string ClientId = "immutable-build";

    // A token answer is a few KiB of JSON; anything far larger is a page or a file, and is not read into memory.
    private const int MaxTokenAnswerBytes = 1024 * 1024;
    private readonly RegistryTransport _client;
    private readonly object _gate = new();
    private readonly List<CachedToken> _tokens = [];
    private readonly SemaphoreSlim _credentialLock = new(1, 1);

    // One token fetch at a time: parallel blob uploads all need the same push token at once.
    private readonly SemaphoreSlim _tokenLock = new(1, 1);
    private volatile AuthChallenge? _challenge;
    private volatile bool _credentialResolved;
    private RegistryCredential? _credential;

    public RegistryAuthenticator(RegistryTransport client) => _client = client;

    /// <summary>The header to send with a request for <paramref name="scope"/>; null before any challenge.</summary>
    public async Task<AuthenticationHeaderValue?> AuthorizeAsync(ScopeSet scope, CancellationToken cancellationToken)
    {
        var challenge = _challenge;
        if (challenge is null)
        {
            return null;
        }

        if (challenge.IsBasic)
        {
            return await GetCredentialAsync(cancellationToken) is { } credential ? Basic(credential) : null;
        }

        if (FindToken(scope) is { } cached)
        {
            return Bearer(cached);
        }

        await _tokenLock.WaitAsync(cancellationToken);
        try
        {
            return Bearer(FindToken(scope) ?? await FetchTokenAsync(challenge, scope, cancellationToken));
        }
        finally
        {
            _tokenLock.Release();
        }
    }

    /// <summary>
    /// Answers a 401: learns the challenge and returns the header for one more attempt. Throws when
    /// there is nothing new to try (no credentials, or the same Basic credentials were just refused).
    /// </summary>
    public async Task<AuthenticationHeaderValue> OnUnauthorizedAsync(HttpResponseMessage response, ScopeSet scope, AuthenticationHeaderValue? sent, string what, CancellationToken cancellationToken)
    {
        var challenge = ReadChallenge(response, what);
        _challenge = challenge;
        var credential = await GetCredentialAsync(cancellationToken);
        if (challenge.IsBasic)
        {
            if (credential is null)
            {
                throw Missing(what);
            }

            if (sent is not null && sent.Scheme == "Basic")
            {
                throw Rejected(credential, what);
            }

            return Basic(credential);
        }

        if (sent is { Scheme: "Bearer", Parameter: { } stale })
        {
            Forget(stale);
        }

        // Always a fresh token here: other cached ones came from the same service and are as suspect.
        await _tokenLock.WaitAsync(cancellationToken);
        try
        {
            return Bearer(await FetchTokenAsync(challenge, scope.Union(ScopeSet.Parse(challenge.Scope)), cancellationToken));
        }
        finally
        {
            _tokenLock.Release();
        }
    }

    /// <summary>The error for a 401 that persisted after <see cref="OnUnauthorizedAsync"/>.</summary>
    public async Task<ImmutableBuildException> StillUnauthorizedAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        var challenge = AuthChallenge.Select(WwwAuthenticate(response));
        var credential = await GetCredentialAsync(cancellationToken);
        if (challenge?.Error == "insufficient_scope" && credential is not null)
        {
            return Denied(credential, what);
        }

        return credential is null ? Missing(what) : Rejected(credential, what);
    }

    public async Task<ImmutableBuildException> ForbiddenAsync(string what, CancellationToken cancellationToken)
    {
        var credential = await GetCredentialAsync(cancellationToken);
        return credential is null ? Missing(what) : Denied(credential, what);
    }

    private async Task<string> FetchTokenAsync(AuthChallenge challenge, ScopeSet scope, CancellationToken cancellationToken)
    {
        var realm = ValidateRealm(challenge);
        var credential = await GetCredentialAsync(cancellationToken);
        var what = $"a token for {(scope.IsEmpty ? _client.Registry : scope.ToString())} from {realm.GetLeftPart(UriPartial.Path)}";
        _client.LogLine($"authenticating to {_client.Registry}: requesting {what}{(credential is null ? " anonymously" : " as " + credential.Username)}");

        var response = credential?.IdentityToken is { } refreshToken
            ? await _client.SendRawAsync(() => OAuthRequest(realm, challenge.Service, scope, refreshToken), HttpCompletionOption.ResponseHeadersRead, cancellationToken)
            : null;
        if (response is null || response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
        {
            // Token services without the OAuth2 endpoint take the identity token as a Basic password (spec: fall back to GET on 404).
            response?.Dispose();
            response = await _client.SendRawAsync(() => TokenRequest(realm, challenge.Service, scope, credential), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }

        using (response)
        {
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                throw credential is null ? Missing(what) : Rejected(credential, what);
            }

            if (!response.IsSuccessStatusCode)
            {
                throw RegistryErrors.Error(
                    RegistryErrors.TokenServiceFailed,
                    $"The token service of {_client.Registry} answered {(int)response.StatusCode} {response.ReasonPhrase} when asked for {what}. Check that the realm the registry announces is up and correct.");
            }

            TokenResponse? token;
            try
            {
                var body = await _client.ReadBoundedAsync(response, MaxTokenAnswerBytes, "the token request", cancellationToken);
                token = JsonSerializer.Deserialize(body, RegistryJsonContext.Default.TokenResponse);
            }
            catch (JsonException)
            {
                token = null;
            }

            var value = token?.Token is { Length: > 0 } t ? t : token?.AccessToken;
            if (string.IsNullOrEmpty(value))
            {
                throw RegistryErrors.Error(
                    RegistryErrors.TokenServiceFailed,
                    $"The token service of {_client.Registry} answered {what} without a token (expected JSON with \"token\" or \"access_token\"). Check the realm the registry announces.");
            }

            _client.Secrets.Add(value);

            // The spec's default lifetime is 60 s; renew a little early so a token never expires in flight.
            var lifetime = TimeSpan.FromSeconds(Math.Clamp(token!.ExpiresIn ?? 60, 1, 86_400));
            var margin = TimeSpan.FromSeconds(Math.Min(30, lifetime.TotalSeconds / 10));
            var expires = _client.Options.TimeProvider.GetUtcNow() + lifetime - margin;
            lock (_gate)
            {
                _tokens.RemoveAll(c => c.Expires <= _client.Options.TimeProvider.GetUtcNow());
                _tokens.Add(new CachedToken(scope, value, expires));
            }

            return value;
        }
    }

    private static HttpRequestMessage TokenRequest(Uri realm, string? service, ScopeSet scope, RegistryCredential? credential)
    {
        var query = new List<string>();
        if (service is not null)
        {
            query.Add("service=" + Uri.EscapeDataString(service));
        }

        query.AddRange(scope.ToScopeStrings().Select(s => "scope=" + Uri.EscapeDataString(s)));
        var builder = new UriBuilder(realm);
        var existing = builder.Query.TrimStart('?');
        builder.Query = string.Join('&', new[] { existing }.Where(e => e.Length > 0).Concat(query));
        var request = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
        if (credential is not null)
        {
            request.Headers.Authorization = Basic(credential);
        }

        return request;
    }

    private static HttpRequestMessage OAuthRequest(Uri realm, string? service, ScopeSet scope, string refreshToken)
    {
        var form = new List<KeyValuePair<string, string>>
        {
            new("grant_type", "refresh_token"),
            new("refresh_token", refreshToken),
            new("client_id", ClientId),
        };
        if (service is not null)
        {
            form.Add(new("service", service));
        }

        if (!scope.IsEmpty)
        {
            form.Add(new("scope", scope.ToString()));
        }

        return new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) };
    }

    /// <summary>
    /// Credentials go to the realm with every token request, so a realm must be absolute and HTTPS
    /// unless the registry itself is plain HTTP (loopback or listed as insecure): an HTTPS registry
    /// naming an http:// realm would otherwise make this client send the password in clear text.
    /// </summary>
    private Uri ValidateRealm(AuthChallenge challenge)
    {
        if (challenge.Realm is null
            || !Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm)
            || (realm.Scheme != Uri.UriSchemeHttps && realm.Scheme != Uri.UriSchemeHttp))
        {
            throw RegistryErrors.Error(
                RegistryErrors.TokenServiceFailed,
                $"{_client.Registry} asks for a bearer token but names no absolute http(s) realm ('{challenge.Realm}'). Fix the registry's token auth configuration.");
        }

        if (realm.Scheme == Uri.UriSchemeHttp && !_client.IsPlainHttp && !RegistryNames.IsLoopback(realm))
        {
            throw RegistryErrors.Error(
                RegistryErrors.InsecureRealm,
                $"{_client.Registry} is HTTPS but sends clients to the plain-HTTP token realm {realm.GetLeftPart(UriPartial.Path)}; credentials are not sent there. Fix the registry's auth configuration, or list {_client.Registry} in DOTNET_CONTAINER_INSECURE_REGISTRIES if it is a trusted test registry.");
        }

        return realm;
    }

    private AuthChallenge ReadChallenge(HttpResponseMessage response, string what)
    {
        var headers = WwwAuthenticate(response);
        return AuthChallenge.Select(headers)
            ?? throw RegistryErrors.Error(
                RegistryErrors.Unsupported,
                headers.Count == 0
                    ? $"{_client.Registry} answered 401 to {what} without a WWW-Authenticate challenge. The registry or a proxy in front of it is misconfigured."
                    : $"{_client.Registry} answered 401 to {what} asking for '{string.Join(", ", headers.Select(h => h.Split(' ')[0]))}' authentication; only Basic and Bearer token authentication are supported.");
    }

    private static List<string> WwwAuthenticate(HttpResponseMessage response) =>
        response.Headers.NonValidated.TryGetValues("WWW-Authenticate", out var values) ? values.ToList() : [];

    private string? FindToken(ScopeSet scope)
    {
        var now = _client.Options.TimeProvider.GetUtcNow();
        lock (_gate)
        {
            return _tokens.LastOrDefault(t => t.Expires > now && t.Scope.Covers(scope))?.Token;
        }
    }

    private void Forget(string token)
    {
        lock (_gate)
        {
            _tokens.RemoveAll(t => t.Token == token);
        }
    }

    private async Task<RegistryCredential?> GetCredentialAsync(CancellationToken cancellationToken)
    {
        if (_credentialResolved)
        {
            return _credential;
        }

        await _credentialLock.WaitAsync(cancellationToken);
        try
        {
            if (!_credentialResolved)
            {
                var options = _client.Options;
                _credential = options.Credential
                    ?? await (options.Credentials ?? new RegistryCredentials(options.GetEnvironmentVariable, _client.LogLine)).ResolveAsync(_client.Registry, cancellationToken);
                if (_credential is not null)
                {
                    _client.Secrets.AddCredential(_credential);
                }

                _credentialResolved = true;
            }

            return _credential;
        }
        finally
        {
            _credentialLock.Release();
        }
    }

    private static AuthenticationHeaderValue Basic(RegistryCredential credential) => new("Basic", SecretRedactor.BasicParameter(credential));

    private static AuthenticationHeaderValue Bearer(string token) => new("Bearer", token);

    private ImmutableBuildException Missing(string what) => RegistryErrors.Error(
        RegistryErrors.CredentialsMissing,
        $"{_client.Registry} requires authentication for {what} and no credentials were found for it. Run `docker login {_client.Registry}`, configure a credential helper for it in Docker's config.json, or set DOTNET_CONTAINER_REGISTRY_UNAME and DOTNET_CONTAINER_REGISTRY_PWORD.");

    private ImmutableBuildException Rejected(RegistryCredential credential, string what) => RegistryErrors.Error(
        RegistryErrors.CredentialsRejected,
        $"{_client.Registry} rejected the credentials of {credential.Username} (from {credential.Source}) for {what}. Renew them: run `docker login {_client.Registry}` again, refresh the token in the credential helper, or correct DOTNET_CONTAINER_REGISTRY_UNAME/PWORD.");

    private ImmutableBuildException Denied(RegistryCredential credential, string what) => RegistryErrors.Error(
        RegistryErrors.AccessDenied,
        $"{_client.Registry} accepted the credentials of {credential.Username} (from {credential.Source}) but denied {what}. Grant that account pull (and push, to push) on the repository, or use a repository it may write.");

    private sealed record CachedToken(ScopeSet Scope, string Token, DateTimeOffset Expires)
    {
        // The record's generated ToString would print the token.
        public override string ToString() => $"token for {Scope} until {Expires:O}";
    }
}
