namespace Immutable.Build.Images;

/// <summary>
/// <c>[registry/]repository[:tag][@digest]</c>. A first path segment with a dot, a colon or named
/// <c>localhost</c> is a registry, as Docker reads it; Docker Hub names get <c>library/</c>.
/// </summary>
public sealed record ImageReference(string? Registry, string Repository, string? Tag, string? Digest)
{
    /// <summary>The docker.io registry's API host.</summary>
    public const string DockerHub = "registry-1.docker.io";

    /// <summary>True for <c>scratch</c>: no base image at all.</summary>
    public bool IsScratch => Registry is null && Repository == "scratch" && Tag is null && Digest is null;

    /// <summary>Parses a reference; throws IMB3002 with the expected form.</summary>
    public static ImageReference Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var rest = value.Trim();
        string? digest = null;
        var at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            digest = rest[(at + 1)..];
            rest = rest[..at];
            if (!Images.Digest.TryParse(digest, out _))
            {
                throw Invalid(value);
            }
        }

        string? registry = null;
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0)
        {
            var first = rest[..slash];
            if (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost")
            {
                registry = first;
                rest = rest[(slash + 1)..];
            }
        }

        string? tag = null;
        var colon = rest.LastIndexOf(':');
        if (colon >= 0)
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
        }

        if (rest.Length == 0 || rest.Any(c => char.IsUpper(c) || char.IsWhiteSpace(c)) || (tag is not null && !IsValidTag(tag)))
        {
            throw Invalid(value);
        }

        if (registry is "docker.io" or "index.docker.io")
        {
            registry = DockerHub;
        }

        if ((registry is null || registry == DockerHub) && !rest.Contains('/', StringComparison.Ordinal) && rest != "scratch")
        {
            rest = "library/" + rest;
        }

        return new ImageReference(registry, rest, tag, digest);
    }

    /// <summary>A tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.</summary>
    public static bool IsValidTag(string tag) =>
        tag.Length is > 0 and <= 128 && (char.IsAsciiLetterOrDigit(tag[0]) || tag[0] == '_') && tag.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-');

    /// <inheritdoc />
    public override string ToString()
    {
        var name = Registry is null ? Repository : $"{Registry}/{Repository}";
        return name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);
    }

    private static ImmutableBuildException Invalid(string value) =>
        new("IMB3002", $"'{value}' is not an image reference; expected [registry/]repository[:tag][@sha256:digest] in lowercase, e.g. 127.0.0.1:5000/base/dotnet:10.0.");
}
