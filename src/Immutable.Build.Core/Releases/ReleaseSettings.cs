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
}
