using System.Security.Cryptography;

namespace Immutable.Build.Images;

/// <summary>A content digest, <c>sha256:&lt;64 lowercase hex&gt;</c>.</summary>
public readonly record struct Digest
{
    private Digest(string value) => Value = value;

    /// <summary>The digest as written in manifests: <c>sha256:...</c>.</summary>
    public string Value { get; }

    /// <summary>The 64 hex characters after the algorithm.</summary>
    public string Hex => Value[(Value.IndexOf(':', StringComparison.Ordinal) + 1)..];

    /// <summary>Parses <c>sha256:hex</c>; throws IMB3001 for anything else.</summary>
    public static Digest Parse(string value) => TryParse(value, out var d)
        ? d
        : throw new ImmutableBuildException("IMB3001", $"'{value}' is not a sha256 digest; expected sha256: followed by 64 lowercase hex characters.");

    /// <summary>Parses <c>sha256:hex</c>.</summary>
    public static bool TryParse(string? value, out Digest digest)
    {
        digest = default;
        if (value is null || !value.StartsWith("sha256:", StringComparison.Ordinal) || value.Length != 71)
        {
            return false;
        }

        foreach (var c in value.AsSpan(7))
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        digest = new Digest(value);
        return true;
    }

    /// <summary>The sha256 digest of some bytes.</summary>
    public static Digest Of(ReadOnlySpan<byte> content) => new("sha256:" + Convert.ToHexString(SHA256.HashData(content)).ToLowerInvariant());

    /// <summary>The sha256 digest of a stream's remaining content.</summary>
    public static Digest Of(Stream content) => new("sha256:" + Convert.ToHexString(SHA256.HashData(content)).ToLowerInvariant());

    /// <summary>Wraps a finished hash.</summary>
    public static Digest FromHash(ReadOnlySpan<byte> sha256) => new("sha256:" + Convert.ToHexString(sha256).ToLowerInvariant());

    /// <inheritdoc />
    public override string ToString() => Value ?? "";
}
