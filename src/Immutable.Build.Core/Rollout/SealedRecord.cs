using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Immutable.Build.Rollout;

/// <summary>What reading one journal or ledger line found.</summary>
internal enum LineCondition
{
    /// <summary>A whole record whose checksum, when it carries one, matches.</summary>
    Whole,

    /// <summary>A prefix of a record: an append cut short by a crash or power loss, which never took effect.</summary>
    Torn,

    /// <summary>Bytes no append writes: not JSON, or JSON whose checksum does not match.</summary>
    Corrupt,
}

/// <summary>
/// A journal or ledger line sealed with a checksum of the record's JSON (<c>,"sum":"&lt;16 hex&gt;"}</c> at its end), so a
/// line that still parses but was damaged (a flipped byte in a release id) is caught rather than believed. Lines written
/// before records carried a sum are read as they are.
/// </summary>
internal static class SealedRecord
{
    private const string SumProperty = ",\"sum\":\"";
    private const int SumLength = 16;

    /// <summary>The record's JSON object with its checksum added as the last property.</summary>
    public static byte[] Seal(byte[] json)
    {
        var sum = Encoding.ASCII.GetBytes(SumProperty + Sum(json) + "\"}");
        var sealedJson = new byte[json.Length - 1 + sum.Length];
        json.AsSpan(0, json.Length - 1).CopyTo(sealedJson);
        sum.CopyTo(sealedJson, json.Length - 1);
        return sealedJson;
    }

    /// <summary>Classifies <paramref name="line"/>; for a whole one, <paramref name="json"/> is the record without its checksum.</summary>
    public static LineCondition Open(string line, out string json)
    {
        json = line;
        var at = line.LastIndexOf(SumProperty, StringComparison.Ordinal);
        if (at > 0 && line.Length == at + SumProperty.Length + SumLength + 2 && line.EndsWith("\"}", StringComparison.Ordinal))
        {
            json = string.Concat(line.AsSpan(0, at), "}");
            var sum = line.Substring(at + SumProperty.Length, SumLength);
            return string.Equals(sum, Sum(Encoding.UTF8.GetBytes(json)), StringComparison.Ordinal) ? LineCondition.Whole : LineCondition.Corrupt;
        }

        return Scan(Encoding.UTF8.GetBytes(line));
    }

    /// <summary>The checksum of a line's text, as found (see <see cref="TornLine"/>).</summary>
    public static string SumOf(string line) => Sum(Encoding.UTF8.GetBytes(line));

    private static string Sum(byte[] json) => Convert.ToHexString(SHA256.HashData(json), 0, SumLength / 2).ToLowerInvariant();

    /// <summary>
    /// Without a checksum, whether the bytes are one whole JSON object, a strict prefix of one (the reader runs out of
    /// input without meeting a wrong byte) or anything else.
    /// </summary>
    private static LineCondition Scan(byte[] bytes)
    {
        var trimmed = bytes.AsSpan().Trim(" \t\r"u8);
        if (trimmed.IsEmpty || trimmed[0] != (byte)'{')
        {
            return LineCondition.Corrupt;
        }

        var reader = new Utf8JsonReader(trimmed, isFinalBlock: false, state: default);
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0)
                {
                    return reader.BytesConsumed == trimmed.Length ? LineCondition.Whole : LineCondition.Corrupt;
                }
            }

            return LineCondition.Torn;
        }
        catch (JsonException)
        {
            return LineCondition.Corrupt;
        }
    }
}
