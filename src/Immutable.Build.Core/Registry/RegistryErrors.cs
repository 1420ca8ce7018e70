using Immutable.Build.Images;

namespace Immutable.Build.Registry;

/// <summary>The <c>IMB2xxx</c> codes of the registry client and the tag guard, each with its cause and fix.</summary>
public static class RegistryErrors
{
    /// <summary>The registry could not be reached.</summary>
    [ErrorCode(
        "The registry could not be reached (refused or reset connection, TLS failure, timeout) after retries, or at once when its name does not resolve or there is no route to it.",
        "Check the registry address and that it runs; for a plain-HTTP registry that is not on loopback, list its host:port in DOTNET_CONTAINER_INSECURE_REGISTRIES. For a base image without internet access, set ContainerBaseImage=scratch or ImmutableBaseImageLayout=<OCI layout folder>.")]
    public const string Unreachable = "IMB2001";

    /// <summary>The registry kept failing with 5xx or 429.</summary>
    [ErrorCode(
        "The registry kept answering 5xx or 429 until the retries ran out.",
        "The registry or a proxy in front of it is overloaded or broken: retry later and check the registry's own logs.")]
    public const string Unavailable = "IMB2002";

    /// <summary>Authentication required and no credentials found.</summary>
    [ErrorCode(
        "The registry asks for authentication and no credentials were found for it.",
        "Run `docker login <registry>`, configure a credential helper in Docker's config.json, or set DOTNET_CONTAINER_REGISTRY_UNAME and DOTNET_CONTAINER_REGISTRY_PWORD.")]
    public const string CredentialsMissing = "IMB2003";

    /// <summary>Credentials were rejected.</summary>
    [ErrorCode(
        "The registry (or its token service) rejected the credentials that were sent.",
        "Refresh them: `docker login <registry>` again, renew the token in the credential helper, or correct DOTNET_CONTAINER_REGISTRY_UNAME/PWORD.")]
    public const string CredentialsRejected = "IMB2004";

    /// <summary>Credentials lack rights for the repository.</summary>
    [ErrorCode(
        "The credentials were accepted but lack the rights for this repository (403, or a token without the requested scope).",
        "Grant the account pull (and push, for a push) on the repository, or push to a repository it may write.")]
    public const string AccessDenied = "IMB2005";

    /// <summary>Manifest not found.</summary>
    [ErrorCode(
        "A manifest (an image or base image tag or digest) does not exist in the registry.",
        "Check the spelling of repository, tag and digest, and that the image was pushed to this registry.")]
    public const string ManifestNotFound = "IMB2006";

    /// <summary>Blob not found.</summary>
    [ErrorCode(
        "A blob (config or layer) does not exist in the repository.",
        "The image that references it is incomplete in the registry: push it again.")]
    public const string BlobNotFound = "IMB2007";

    /// <summary>Content does not match its digest.</summary>
    [ErrorCode(
        "Content received from the registry, or stored by it, does not match its digest.",
        "A proxy or the registry altered the bytes: retry, and check caching proxies between this machine and the registry.")]
    public const string DigestMismatch = "IMB2008";

    /// <summary>The registry refused the request.</summary>
    [ErrorCode(
        "The registry refused a request (4xx); the message carries the registry's own error codes.",
        "Fix what they name, e.g. MANIFEST_INVALID, NAME_INVALID, SIZE_INVALID or a quota.")]
    public const string RequestRejected = "IMB2009";

    /// <summary>The token service failed.</summary>
    [ErrorCode(
        "The token service of the registry failed or answered something that is not a token.",
        "Check the realm the registry announces and that the token service is up.")]
    public const string TokenServiceFailed = "IMB2010";

    /// <summary>Credentials would go to a plain-HTTP realm.</summary>
    [ErrorCode(
        "An HTTPS registry sent its credentials to a plain-HTTP token realm, which would expose them.",
        "Fix the registry's auth configuration, or, for a trusted test registry, list it in DOTNET_CONTAINER_INSECURE_REGISTRIES.")]
    public const string InsecureRealm = "IMB2011";

    /// <summary>Unsupported manifest media type or authentication scheme.</summary>
    [ErrorCode(
        "The registry answered with a manifest media type or an authentication scheme this client does not speak (e.g. Docker schema 1, NTLM).",
        "Re-push the image with an OCI or Docker v2 manifest, or use a registry with Basic or Bearer token auth.")]
    public const string Unsupported = "IMB2012";

    /// <summary>Invalid registry or repository name.</summary>
    [ErrorCode(
        "A registry or repository name is not valid.",
        "Use host[:port] for the registry and lowercase path components ([a-z0-9] separated by '.', '_', '__', '-' or '/') for the repository.")]
    public const string InvalidName = "IMB2013";

    /// <summary>Docker config.json unreadable.</summary>
    [ErrorCode(
        "Docker's config.json could not be read or has an invalid `auths` entry.",
        "Fix or remove the file ($DOCKER_CONFIG/config.json or ~/.docker/config.json), or run `docker login <registry>` again.")]
    public const string DockerConfigInvalid = "IMB2014";

    /// <summary>Credential helper missing or failed.</summary>
    [ErrorCode(
        "A Docker credential helper (docker-credential-<name>) is missing from PATH, failed or answered something other than {\"Username\",\"Secret\"}.",
        "Install the helper, fix its login, or remove it from credHelpers/credsStore in config.json.")]
    public const string CredentialHelperFailed = "IMB2015";

    /// <summary>The tag guard refused a tag.</summary>
    [ErrorCode(
        "A tag already points at other content than the image being pushed; nothing was written. The image under the tag is read back and compared: the message says whether another commit reused the tag (both commits named) or the same commit was built with other content (what differs: labels such as the source URL, environment, entrypoint, ports, base image, layers, SDK version, uncommitted changes).",
        "Tag reused: remove the fixed ContainerImageTag(s) so the commit names the release, or give the commit a tag of its own. Same commit, other content: build it as it was built (the differences listed), or commit the change so it is a release of its own. Either way: or remove the tag from the registry or layout, or set ImmutableAllowTagOverwrite=true to overwrite it on purpose. When the image under the tag cannot be read, both causes are named.")]
    public const string TagRefused = "IMB2016";

    /// <summary>A blob has no local content and could not be mounted.</summary>
    [ErrorCode(
        "A blob to push has no content here and could not be mounted from its source repository.",
        "Make the base image's layers available in the same registry as the target (push the base there), or build with the layer files available.")]
    public const string BlobContentUnavailable = "IMB2017";

    /// <summary>Local blob content does not match its descriptor.</summary>
    [ErrorCode(
        "Local blob content does not match its descriptor (size or digest).",
        "A file changed while the image was being pushed, or the image was assembled wrongly: publish again.")]
    public const string LocalContentMismatch = "IMB2018";

    /// <summary>Deletes are disabled in the registry.</summary>
    [ErrorCode(
        "The registry does not allow deleting manifests (405).",
        "Enable deletes in the registry's configuration (storage.delete.enabled for a distribution registry) or delete through its own UI or API.")]
    public const string DeleteUnsupported = "IMB2019";

    /// <summary>A tag moved during the push.</summary>
    [ErrorCode(
        "A tag changed while this push ran: another push wrote it between the tag guard and the manifest upload.",
        "Find the concurrent publisher, then publish again.")]
    public const string TagChangedDuringPush = "IMB2020";

    /// <summary>Another publisher won the race for a tag that was absent when this push began.</summary>
    [ErrorCode(
        "Two or more publishes of different content raced for one tag that was absent when they began; another one wrote the tag first (both digests are named). This push's tag was not written; its blobs may be in the repository, untagged.",
        "A fixed tag belongs to one commit: stop publishing the same ContainerImageTag(s) from several commits or pipelines at once, and let the commit name each release. The tag now holds the winner's digest, named in the message.")]
    public const string TagTakenConcurrently = "IMB2021";

    /// <summary>The repository's publish lease could not be taken in time.</summary>
    [ErrorCode(
        "Another publisher held the repository's publish lease (the immutable-build-lease tag) for longer than the wait allows, or the registry kept replacing it; nothing was tagged.",
        "Publish again once the other publish ends; a lease left by a killed publisher is taken over once it has stood unchanged for 30 s.")]
    public const string LeaseUnavailable = "IMB2022";

    /// <summary>A registry answer was larger than the client accepts.</summary>
    [ErrorCode(
        "The registry (or its token service) answered with a document larger than this client accepts: a manifest or index above 4 MiB (the OCI limit), a token answer above 1 MiB.",
        "Check what the registry serves under that reference: a real image manifest is a few KiB. A proxy or a misconfigured registry answering with a page or a file instead is the usual cause.")]
    public const string AnswerTooLarge = "IMB2030";

    /// <summary>An upload location names another host.</summary>
    [ErrorCode(
        "The registry answered an upload with a Location on another host (or scheme or port) than the registry itself; the client does not follow it, so no content or credentials go there.",
        "Fix the registry's externally visible address (http.host for a distribution registry, the proxy's forwarded host headers) so its upload locations name the registry, or push to the address it names.")]
    public const string ForeignLocation = "IMB2031";

    /// <summary>Redirects that never end or cannot be followed.</summary>
    [ErrorCode(
        "The registry kept redirecting (a loop, or more than 5 hops), or redirected where the client may not follow (HTTPS to plain HTTP).",
        "Fix the redirect configuration of the registry or of the proxy or storage in front of it.")]
    public const string RedirectLoop = "IMB2032";

    /// <summary>Warning: a tag was overwritten on purpose.</summary>
    [ErrorCode(
        "A tag was overwritten because ImmutableAllowTagOverwrite=true.",
        "Anything that deployed the tag by name now gets other content; remove the override once done.",
        Warning = true)]
    public const string TagOverwritten = "IMB2101";

    internal static ImmutableBuildException Error(string code, string message, Exception? inner = null) => new(code, message, inner);

    internal static ImmutableBuildException Refused(string registry, string repository, Digest digest, IReadOnlyList<TagGuardResult> refused, IReadOnlyList<TagConflict>? conflicts = null)
    {
        var first = refused[0].Tag;
        var target = repository.Length == 0 ? registry : $"{registry}/{repository}";
        var removeOrOverwrite = $"or remove the tag '{first}' from {(repository.Length == 0 ? "the layout" : "the registry")}, or set ImmutableAllowTagOverwrite=true to overwrite it on purpose.";
        var explained = conflicts?.Where(c => c.Kind != TagConflictKind.Unknown).ToList() ?? [];
        if (explained.Count == refused.Count)
        {
            // The images were compared: name the one cause that applies, and only its fix.
            var fixes = new List<string>();
            if (explained.Any(c => c.Kind == TagConflictKind.TagReused))
            {
                fixes.Add("a fixed ContainerImageTag(s) belongs to one commit: remove it so the release is named by its commit, or give this commit a tag of its own");
            }

            if (explained.Any(c => c.Kind == TagConflictKind.SameCommitOtherContent))
            {
                fixes.Add("a published commit keeps its content: build it as it was built (same settings, SDK, base image and source URL, a clean work tree), or commit the change so it is a release of its own");
            }

            return new ImmutableBuildException(
                TagRefused,
                $"Refusing to push {target}: {string.Join("; ", explained.Select(c => c.Describe()))}. This build produced {digest}. Nothing was pushed. "
                + $"Fix: {string.Join("; ", fixes)}; {removeOrOverwrite}");
        }

        var lines = string.Join(
            "; ",
            refused.Select(r => $"'{r.Tag}' already points at {r.ExistingDigest}"));
        var plural = refused.Count == 1 ? "tag" : "tags";
        return new ImmutableBuildException(
            TagRefused,
            $"Refusing to push {target}: {plural} {lines}, but this build produced {digest}. Nothing was pushed. "
            + "Either another commit reused a fixed tag (a ContainerImageTag(s) the commit does not own: remove it, so the release is named by its commit), "
            + "or this is the same commit built with other content (other settings or labels, another SDK or base image, another source URL, uncommitted changes): build it as before, "
            + removeOrOverwrite);
    }
}
