using Immutable.Build.Registry;
using Immutable.Build.Versioning;

namespace Immutable.Build.Releases;

/// <summary>Checks the user's settings before any build work, so bad input fails first with its own code.</summary>
public static class ReleaseSettings
{
    /// <summary>Throws the IMB error for the first bad setting: tags (IMB1004), tag policy (IMB1003), repository (IMB2013).</summary>
    public static void Validate(IReadOnlyList<string> userTags, IReadOnlyList<string> movingTags, string? tagPolicy, string? repository)
    {
        ReleaseTags.Validate(userTags, "ContainerImageTags");
        ReleaseTags.Validate(movingTags, "ImmutableMovingTags");
        ReleaseTags.ParsePolicy(tagPolicy);
        if (!string.IsNullOrWhiteSpace(repository))
        {
            // The SDK lowercases the name and turns spaces into dashes; anything still invalid after that is the user's to fix.
            RegistryNames.ValidateRepository(repository.Trim().ToLowerInvariant().Replace(' ', '-'));
        }
    }

    /// <summary>
    /// True for what an app name or a release id may be: letters, digits, '.', '_' and '-', 1 to 128 of them, no '..'.
    /// Both become file, label and state names, so nothing that could climb a path or split a line passes.
    /// </summary>
    public static bool IsPlainName(string? value) =>
        value is { Length: > 0 and <= 128 } && value != "." && !value.Contains("..", StringComparison.Ordinal)
        && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>Throws IMB1030 unless <paramref name="appName"/> is a plain name.</summary>
    public static void ValidateAppName(string? appName)
    {
        if (!IsPlainName(appName))
        {
            var shown = appName is null ? "" : appName.Length > 80 ? appName[..80] + "..." : appName;
            throw new ImmutableBuildException(ReleaseErrors.InvalidAppName, $"ImmutableAppName '{shown.ReplaceLineEndings(" ")}' is not a plain name: use 1 to 128 letters, digits, '.', '_' or '-' (no '/', '..' or spaces), such as hello-immutable.");
        }
    }

    /// <summary>
    /// Checks what the image and its push are named by before any layer is written, so a bad registry, repository,
    /// port or environment name fails with nothing on disk: a registry with user:password@ is IMB1034 (and its secret
    /// is not repeated), other registry shapes IMB2013, ports and environment names IMB3013.
    /// </summary>
    internal static void ValidateImage(ReleaseRequest request)
    {
        if (!string.IsNullOrWhiteSpace(request.Registry))
        {
            if (request.Registry.Contains('@', StringComparison.Ordinal))
            {
                var host = request.Registry[(request.Registry.LastIndexOf('@') + 1)..];
                throw new ImmutableBuildException(
                    ReleaseErrors.RegistryWithCredentials,
                    $"ContainerRegistry holds credentials before '@' (shown here only as its host, {host}); a registry address is host[:port]. Set ContainerRegistry={host} and give the credentials through `docker login` (a credential helper) or DOTNET_CONTAINER_REGISTRY_UNAME/DOTNET_CONTAINER_REGISTRY_PWORD.");
            }

            RegistryNames.ResolveRegistry(request.Registry, _ => null);
            Validate([], [], null, request.Repository);
        }

        foreach (var port in request.Ports)
        {
            Images.ImageAssembler.NormalizePort(port);
        }

        Images.ImageAssembler.MergeEnvironment(null, request.Environment);
    }
}
