namespace Immutable.Build.Releases;

/// <summary>The IMB1xxx (settings of a release) and IMB4001 (release manifests) codes of releases.</summary>
public static class ReleaseErrors
{
    /// <summary>Unknown ContainerImageFormat.</summary>
    [ErrorCode(
        "ContainerImageFormat has an unknown value.",
        "Use OCI (default) or Docker.")]
    public const string UnknownImageFormat = "IMB1006";

    /// <summary>The publish folder is missing.</summary>
    [ErrorCode(
        "The publish folder does not exist when the release runs.",
        "Run the release through `dotnet publish`, not `dotnet build`.")]
    public const string NoPublishFolder = "IMB1007";

    /// <summary>ImmutableAppName is not a plain name.</summary>
    [ErrorCode(
        "ImmutableAppName (or the repository's last segment it defaults to) is not a plain name: it is empty, longer than 128 characters, or holds something other than letters, digits, '.', '_' and '-' (a '/', '..', a space, a newline).",
        "Give ImmutableAppName a plain name such as hello-immutable.")]
    public const string InvalidAppName = "IMB1030";

    /// <summary>ContainerRegistry with user:password@.</summary>
    [ErrorCode(
        "ContainerRegistry holds credentials (user:password@host): they would end up in logs, release.json and image references.",
        "Set ContainerRegistry to host[:port] alone and give the credentials through `docker login` (a credential helper) or DOTNET_CONTAINER_REGISTRY_UNAME/DOTNET_CONTAINER_REGISTRY_PWORD.")]
    public const string RegistryWithCredentials = "IMB1034";

    /// <summary>Warning: the release was built from a dirty work tree.</summary>
    [ErrorCode(
        "The work tree has uncommitted changes; the release is tagged <sha>-dirty-<8 hex of the image digest>.",
        "Commit, then publish, for a release named by its commit.",
        Warning = true)]
    public const string DirtyWorkTree = "IMB1101";

    /// <summary>Warning: the SDK's engine built a release that is not reproducible.</summary>
    [ErrorCode(
        "The release was built by the SDK's engine (-t:PublishContainer) and is not reproducible.",
        "Publish without -t:PublishContainer for a reproducible, layered image.",
        Warning = true)]
    public const string NotReproducible = "IMB1102";

    /// <summary>A release.json that cannot be used.</summary>
    [ErrorCode(
        "A release.json is missing, unreadable or of a newer schema version.",
        "Publish again to rewrite it, or update Immutable.Build.")]
    public const string ManifestUnreadable = "IMB4001";

    /// <summary>A release.json that reads, but holds a value no publish writes.</summary>
    [ErrorCode(
        "A release.json holds a value no publish writes: a digest that is not sha256:<64 hex>, an app or release id that is not a plain name, an image reference of another digest, an OCI layout path that leaves its folder, or a schema version below 1.",
        "Publish again to rewrite it, and do not edit release.json by hand; give the CLI only release.json files that `dotnet publish` wrote.")]
    public const string ManifestInvalid = "IMB4030";
}
