using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Immutable.Build.Images;

namespace Immutable.Build.Registry;

/// <summary>
/// An OCI distribution API client for one registry (host[:port]): manifests, blobs, tags, with
/// Basic or bearer-token authentication and bounded retries. Plain HTTP is used for loopback and
/// for the hosts in DOTNET_CONTAINER_INSECURE_REGISTRIES, HTTPS otherwise. Failures the user can
/// act on are <see cref="ImmutableBuildException"/>s with IMB2xxx codes (see <see cref="RegistryErrors"/>).
/// Safe for concurrent use.
/// </summary>
public sealed partial class RegistryClient : IDisposable
{
    // The OCI distribution spec's limit: registries need not accept more, and a larger answer is not an image manifest.
    private const int MaxManifestBytes = 4 * 1024 * 1024;

    private static readonly string[] ManifestMediaTypes =
    [
        MediaTypes.OciManifest,
        MediaTypes.OciIndex,
        MediaTypes.DockerManifest,
        MediaTypes.DockerManifestList,
    ];

    private readonly RegistryTransport _transport;

    /// <summary>Creates a client for <paramref name="registry"/> (host[:port]; docker.io means Docker Hub).</summary>
    public RegistryClient(string registry, RegistryClientOptions? options = null) =>
        _transport = new RegistryTransport(registry, options ?? new RegistryClientOptions());

    /// <summary>The registry as it appears in image references, e.g. <c>127.0.0.1:5000</c>.</summary>
    public string Registry => _transport.Registry;

    /// <summary>The API root, <c>http(s)://host[:port]/</c>.</summary>
    public Uri BaseAddress => _transport.BaseAddress;

    /// <summary>True when the registry is spoken to over plain HTTP (loopback or listed as insecure).</summary>
    public bool IsPlainHttp => _transport.IsPlainHttp;

    internal RegistryClientOptions Options => _transport.Options;

    /// <summary>What a tag or digest points at; null when it does not exist.</summary>
    public async Task<ManifestInfo?> HeadManifestAsync(string repository, string reference, CancellationToken cancellationToken = default)
    {
        var uri = ManifestUri(repository, reference);
        using (var response = await _transport.SendAsync(() => ManifestRequest(HttpMethod.Head, uri), ScopeSet.Pull(repository), HttpCompletionOption.ResponseContentRead, cancellationToken))
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }

            await _transport.EnsureSuccessAsync(response, $"HEAD {repository}:{reference}", cancellationToken);
            if (RegistryTransport.Header(response, "Docker-Content-Digest") is { } header && Digest.TryParse(header, out var digest))
            {
                if (Digest.TryParse(reference, out var wanted) && wanted != digest)
                {
                    throw _transport.Mismatch($"manifest {repository}@{reference}", $"the registry reports {digest}");
                }

                return new ManifestInfo(digest, response.Content.Headers.ContentType?.MediaType ?? "", response.Content.Headers.ContentLength ?? 0);
            }
        }

        // The digest header is optional in the spec; the manifest's bytes are the authority.
        var manifest = await TryGetManifestAsync(repository, reference, cancellationToken);
        return manifest is null ? null : new ManifestInfo(manifest.Digest, manifest.MediaType, manifest.Content.LongLength);
    }

    /// <summary>The manifest exactly as stored; throws IMB2006 when it does not exist.</summary>
    public async Task<RegistryManifest> GetManifestAsync(string repository, string reference, CancellationToken cancellationToken = default) =>
        await TryGetManifestAsync(repository, reference, cancellationToken)
        ?? throw RegistryErrors.Error(
            RegistryErrors.ManifestNotFound,
            $"{Registry}/{repository}{(Digest.TryParse(reference, out _) ? "@" : ":")}{reference} does not exist. Check the repository, tag or digest (for a base image: ContainerBaseImage), and that the image was pushed to {Registry}.");

    /// <summary>
    /// The manifest exactly as stored, or null when it does not exist. Fetched by digest, the bytes
    /// are verified against it; fetched by tag, against the digest the registry reports.
    /// </summary>
    public Task<RegistryManifest?> TryGetManifestAsync(string repository, string reference, CancellationToken cancellationToken = default)
    {
        var uri = ManifestUri(repository, reference);
        return _transport.RetryCutBodyAsync($"GET manifest {repository}:{reference}", ct => TryGetManifestOnceAsync(repository, reference, uri, ct), cancellationToken);
    }

    private async Task<RegistryManifest?> TryGetManifestOnceAsync(string repository, string reference, Uri uri, CancellationToken cancellationToken)
    {
        using var response = await _transport.SendAsync(() => ManifestRequest(HttpMethod.Get, uri), ScopeSet.Pull(repository), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        var what = $"manifest {repository}{(Digest.TryParse(reference, out _) ? "@" : ":")}{reference}";
        await _transport.EnsureSuccessAsync(response, "GET " + what, cancellationToken);
        var content = await _transport.ReadBoundedAsync(response, MaxManifestBytes, what, cancellationToken);
        var digest = Digest.Of(content);
        if (Digest.TryParse(reference, out var wanted) && wanted != digest)
        {
            throw _transport.Mismatch(what, $"content with digest {digest}");
        }

        if (RegistryTransport.Header(response, "Docker-Content-Digest") is { } reported && Digest.TryParse(reported, out var reportedDigest) && reportedDigest != digest)
        {
            throw _transport.Mismatch(what, $"content with digest {digest} while reporting {reportedDigest}");
        }

        return new RegistryManifest(content, ManifestMediaType(response, content, what), digest);
    }

    /// <summary>Stores a manifest under a tag or its digest and returns the digest the registry stored it as (checked against the bytes).</summary>
    public async Task<Digest> PutManifestAsync(string repository, string reference, byte[] manifest, string mediaType, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentException.ThrowIfNullOrEmpty(mediaType);
        var uri = ManifestUri(repository, reference);
        var digest = Digest.Of(manifest);
        if (Digest.TryParse(reference, out var wanted) && wanted != digest)
        {
            throw RegistryErrors.Error(RegistryErrors.LocalContentMismatch, $"The manifest to push as {repository}@{reference} has digest {digest}. Publish again.");
        }

        HttpResponseMessage response;
        try
        {
            response = await _transport.SendAsync(
                () =>
                {
                    var content = new ByteArrayContent(manifest);
                    content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
                    return new HttpRequestMessage(HttpMethod.Put, uri) { Content = content };
                },
                ScopeSet.Push(repository),
                HttpCompletionOption.ResponseContentRead,
                cancellationToken);
        }
        catch (ImmutableBuildException e) when (e.Code == RegistryErrors.Unreachable)
        {
            // A reset or a timeout after the registry stored the manifest loses only the answer: the reference tells.
            if (await StoredQuietlyAsync(repository, reference, digest, cancellationToken))
            {
                _transport.LogLine($"the answer to PUT manifest {repository}:{reference} was lost, but {Registry} holds {digest} under it");
                return digest;
            }

            throw;
        }

        using (response)
        {
            await _transport.EnsureSuccessAsync(response, $"PUT manifest {repository}:{reference}", cancellationToken);
            if (RegistryTransport.Header(response, "Docker-Content-Digest") is { } reported && Digest.TryParse(reported, out var stored) && stored != digest)
            {
                throw _transport.Mismatch($"manifest {repository}:{reference}", $"it stored {stored}");
            }
        }

        _transport.LogLine($"manifest {digest} stored as {Registry}/{repository}{(Digest.TryParse(reference, out _) ? "@" : ":")}{reference}");
        return digest;
    }

    private async Task<bool> StoredQuietlyAsync(string repository, string reference, Digest digest, CancellationToken cancellationToken)
    {
        try
        {
            return (await HeadManifestAsync(repository, reference, cancellationToken))?.Digest == digest;
        }
        catch (ImmutableBuildException)
        {
            return false;
        }
    }

    /// <summary>Deletes a manifest by digest; false when it did not exist. Throws IMB2019 when the registry does not allow deletes.</summary>
    public async Task<bool> DeleteManifestAsync(string repository, Digest digest, CancellationToken cancellationToken = default)
    {
        var uri = ManifestUri(repository, digest.Value);
        using var response = await _transport.SendAsync(() => new HttpRequestMessage(HttpMethod.Delete, uri), ScopeSet.Delete(repository), HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        if (response.StatusCode is HttpStatusCode.MethodNotAllowed)
        {
            throw RegistryErrors.Error(
                RegistryErrors.DeleteUnsupported,
                $"{Registry} does not allow deleting manifests (405 for {repository}@{digest}). Enable deletes in its configuration (storage.delete.enabled for a distribution registry) or delete through its own UI or API.");
        }

        await _transport.EnsureSuccessAsync(response, $"DELETE {repository}@{digest}", cancellationToken);
        _transport.LogLine($"deleted {Registry}/{repository}@{digest}");
        return true;
    }

    /// <summary>All tags of a repository, following Link-header pages; empty when the repository does not exist.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="pageSize">Tags per page (the registry's default when null).</param>
    /// <param name="cancellationToken">Cancels the listing.</param>
    public async Task<IReadOnlyList<string>> ListTagsAsync(string repository, int? pageSize = null, CancellationToken cancellationToken = default)
    {
        RegistryNames.ValidateRepository(repository);
        var tags = new List<string>();
        var next = new Uri(BaseAddress, $"v2/{repository}/tags/list{(pageSize is { } n ? $"?n={n}" : "")}");
        var seen = new HashSet<Uri>();
        while (next is not null && seen.Add(next))
        {
            var page = next;
            using var response = await _transport.SendAsync(() => new HttpRequestMessage(HttpMethod.Get, page), ScopeSet.Pull(repository), HttpCompletionOption.ResponseContentRead, cancellationToken);
            if (response.StatusCode == HttpStatusCode.NotFound && tags.Count == 0)
            {
                return tags;
            }

            await _transport.EnsureSuccessAsync(response, $"GET tags of {repository}", cancellationToken);
            TagListResponse? list;
            try
            {
                list = JsonSerializer.Deserialize(await response.Content.ReadAsByteArrayAsync(cancellationToken), RegistryJsonContext.Default.TagListResponse);
            }
            catch (JsonException)
            {
                list = null;
            }

            if (list is null)
            {
                throw RegistryErrors.Error(RegistryErrors.RequestRejected, $"{Registry} answered the tag list of {repository} with something that is not a tag list. Check that {Registry} is an OCI registry.");
            }

            tags.AddRange(list.Tags ?? []);
            next = NextPage(response);
        }

        return tags;
    }

    /// <inheritdoc />
    public void Dispose() => _transport.Dispose();

    /// <summary>Names the registry; never credentials.</summary>
    public override string ToString() => $"registry {Registry} ({BaseAddress.Scheme})";

    private Uri ManifestUri(string repository, string reference)
    {
        RegistryNames.ValidateRepository(repository);
        RegistryNames.ValidateReference(reference);
        return new Uri(BaseAddress, $"v2/{repository}/manifests/{reference}");
    }

    private static HttpRequestMessage ManifestRequest(HttpMethod method, Uri uri)
    {
        var request = new HttpRequestMessage(method, uri);
        foreach (var type in ManifestMediaTypes)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        }

        return request;
    }

    private string ManifestMediaType(HttpResponseMessage response, byte[] content, string what)
    {
        var type = response.Content.Headers.ContentType?.MediaType;
        if (type is not null && ManifestMediaTypes.Contains(type))
        {
            return type;
        }

        ManifestMediaTypeProbe? probe = null;
        try
        {
            probe = JsonSerializer.Deserialize(content, RegistryJsonContext.Default.ManifestMediaTypeProbe);
        }
        catch (JsonException)
        {
        }

        // An OCI manifest may omit mediaType; schemaVersion 2 with a config then identifies it.
        if (probe?.MediaType is { } declared && ManifestMediaTypes.Contains(declared))
        {
            return declared;
        }

        throw RegistryErrors.Error(
            RegistryErrors.Unsupported,
            $"{Registry} answered {what} with media type '{type ?? probe?.MediaType ?? "none"}'; only OCI manifests and indexes and Docker v2 manifests and manifest lists are supported. Re-push the image with a current tool.");
    }

    private Uri? NextPage(HttpResponseMessage response)
    {
        if (!response.Headers.NonValidated.TryGetValues("Link", out var links))
        {
            return null;
        }

        foreach (var link in links.SelectMany(l => l.Split(',')))
        {
            var open = link.IndexOf('<', StringComparison.Ordinal);
            var close = link.IndexOf('>', StringComparison.Ordinal);
            if (open < 0 || close < open || !link[close..].Contains("rel=\"next\"", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var target = link[(open + 1)..close];
            return Uri.TryCreate(target, UriKind.RelativeOrAbsolute, out var uri) ? (uri.IsAbsoluteUri ? uri : new Uri(BaseAddress, uri)) : null;
        }

        return null;
    }
}
