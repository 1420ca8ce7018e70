namespace Immutable.Build.Images;

/// <summary>Maps .NET runtime identifiers to OCI platforms and picks a platform's manifest from an index.</summary>
public static class Platforms
{
    /// <summary>
    /// The platform of a RID: <c>linux-x64</c> is linux/amd64, <c>linux-arm64</c> linux/arm64/v8,
    /// <c>linux-arm</c> linux/arm/v7, <c>linux-musl-x64</c> linux/amd64. Throws IMB3007 for RIDs without containers.
    /// </summary>
    public static Platform FromRuntimeIdentifier(string rid)
    {
        ArgumentException.ThrowIfNullOrEmpty(rid);
        var dash = rid.LastIndexOf('-');
        if (dash <= 0)
        {
            throw ImageErrors.UnsupportedRid(rid);
        }

        var osPart = rid[..dash].ToLowerInvariant();
        var (arch, variant) = rid[(dash + 1)..].ToLowerInvariant() switch
        {
            "x64" => ("amd64", (string?)null),
            "x86" => ("386", null),
            "arm64" => ("arm64", "v8"),
            "arm" => ("arm", "v7"),
            "armv6" => ("arm", "v6"),
            "s390x" => ("s390x", null),
            "ppc64le" => ("ppc64le", null),
            "riscv64" => ("riscv64", null),
            "loongarch64" => ("loong64", null),
            _ => throw ImageErrors.UnsupportedRid(rid),
        };

        string os;
        if (osPart.StartsWith("win", StringComparison.Ordinal))
        {
            os = "windows";
        }
        else if (osPart.StartsWith("freebsd", StringComparison.Ordinal))
        {
            os = "freebsd";
        }
        else if (osPart.StartsWith("osx", StringComparison.Ordinal) || osPart.StartsWith("maccatalyst", StringComparison.Ordinal)
            || osPart.StartsWith("ios", StringComparison.Ordinal) || osPart.StartsWith("tvos", StringComparison.Ordinal)
            || osPart.StartsWith("android", StringComparison.Ordinal) || osPart.StartsWith("browser", StringComparison.Ordinal)
            || osPart.StartsWith("wasi", StringComparison.Ordinal))
        {
            throw ImageErrors.UnsupportedRid(rid);
        }
        else
        {
            // linux, linux-musl, linux-bionic and the distro-versioned RIDs (alpine.3.19, debian.12, ...).
            os = "linux";
        }

        return new Platform(arch, os) { Variant = variant };
    }

    /// <summary>
    /// True when <paramref name="candidate"/> runs where <paramref name="wanted"/> is asked for. Variants compare
    /// as containerd normalises them: arm64 without variant is v8, arm without variant is v7, amd64 v1 is none.
    /// </summary>
    public static bool Matches(Platform candidate, Platform wanted)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        ArgumentNullException.ThrowIfNull(wanted);
        return string.Equals(candidate.Os, wanted.Os, StringComparison.OrdinalIgnoreCase)
            && string.Equals(candidate.Architecture, wanted.Architecture, StringComparison.OrdinalIgnoreCase)
            && string.Equals(NormalVariant(candidate), NormalVariant(wanted), StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The first manifest of <paramref name="index"/> for <paramref name="wanted"/>; throws IMB3008 with the platforms it has.</summary>
    public static Descriptor Select(ImageIndex index, Platform wanted, string image)
    {
        ArgumentNullException.ThrowIfNull(index);
        foreach (var m in index.Manifests)
        {
            if (m.Platform is { } p && Matches(p, wanted))
            {
                return m;
            }
        }

        throw ImageErrors.NoPlatform(image, wanted, index.Manifests.Where(m => m.Platform is not null).Select(m => Format(m.Platform!)));
    }

    /// <summary><c>os/arch[/variant]</c>.</summary>
    public static string Format(Platform platform)
    {
        ArgumentNullException.ThrowIfNull(platform);
        return platform.Variant is null ? $"{platform.Os}/{platform.Architecture}" : $"{platform.Os}/{platform.Architecture}/{platform.Variant}";
    }

    /// <summary>Checks that a base config is for the wanted platform (os and architecture); throws IMB3008 otherwise.</summary>
    internal static void EnsureConfigMatches(ImageConfig config, Platform wanted, string image)
    {
        var actual = new Platform(config.Architecture, config.Os) { Variant = config.Variant };
        if (!string.Equals(actual.Os, wanted.Os, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(actual.Architecture, wanted.Architecture, StringComparison.OrdinalIgnoreCase))
        {
            throw ImageErrors.WrongPlatform(image, wanted, Format(actual));
        }
    }

    private static string NormalVariant(Platform p) => ((p.Architecture ?? "").ToLowerInvariant(), p.Variant?.ToLowerInvariant()) switch
    {
        ("arm64", null or "") => "v8",
        ("arm", null or "") => "v7",
        ("amd64", "v1") => "",
        (_, var v) => v ?? "",
    };
}
