using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Immutable.Build.Aws.Elb;

/// <summary>
/// AWS Signature Version 4 over header authentication (AWS4-HMAC-SHA256), only as much of it as a Query API client
/// needs: the caller passes the headers it will send (host and x-amz-date among them) and every one is signed.
/// The secret never leaves this class except as the derived signature.
/// </summary>
internal static class SigV4Signer
{
    /// <summary>The algorithm name in the Authorization header and the string to sign.</summary>
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>The x-amz-date form of a time: basic ISO 8601 in UTC.</summary>
    public static string AmzDate(DateTimeOffset time) => time.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The value of the Authorization header for a request.</summary>
    /// <param name="request">What is sent: its headers must already hold every header to be signed.</param>
    /// <param name="accessKey">The access key id, which is public.</param>
    /// <param name="secretKey">The secret key.</param>
    /// <param name="region">The region of the scope, e.g. us-east-1.</param>
    /// <param name="service">The signing name of the service, e.g. elasticloadbalancing.</param>
    /// <param name="time">The time also sent as x-amz-date.</param>
    public static string Authorization(SigV4Request request, string accessKey, string secretKey, string region, string service, DateTimeOffset time)
    {
        var day = time.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        var scope = $"{day}/{region}/{service}/aws4_request";
        var canonical = CanonicalRequest(request, out var signedHeaders);
        var stringToSign = $"{Algorithm}\n{AmzDate(time)}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";

        var key = Hmac(Encoding.UTF8.GetBytes("AWS4" + secretKey), day);
        key = Hmac(key, region);
        key = Hmac(key, service);
        key = Hmac(key, "aws4_request");
        var signature = Hex(Hmac(key, stringToSign));
        return $"{Algorithm} Credential={accessKey}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
    }

    /// <summary>The canonical request of SigV4 (exposed so tests can compare it with a published one).</summary>
    public static string CanonicalRequest(SigV4Request request, out string signedHeaders)
    {
        // Header names compare case-insensitively and repeated headers join with commas, in the order they were given.
        var headers = request.Headers
            .GroupBy(h => h.Key.Trim().ToLowerInvariant(), StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (Name: g.Key, Value: string.Join(',', g.Select(h => CollapseSpaces(h.Value)))))
            .ToList();
        signedHeaders = string.Join(';', headers.Select(h => h.Name));

        var query = string.Join('&', request.Query
            .Select(p => (Name: Encode(p.Key), Value: Encode(p.Value)))
            .OrderBy(p => p.Name, StringComparer.Ordinal)
            .ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => $"{p.Name}={p.Value}"));

        var builder = new StringBuilder();
        builder.Append(request.Method).Append('\n');
        builder.Append(string.IsNullOrEmpty(request.Path) ? "/" : request.Path).Append('\n');
        builder.Append(query).Append('\n');
        foreach (var (name, value) in headers)
        {
            builder.Append(name).Append(':').Append(value).Append('\n');
        }

        builder.Append('\n');
        builder.Append(signedHeaders).Append('\n');
        builder.Append(Hex(SHA256.HashData(request.Body.Span)));
        return builder.ToString();
    }

    /// <summary>RFC 3986 percent-encoding with only the unreserved characters left alone, as SigV4 and the Query API want.</summary>
    public static string Encode(string value) => Uri.EscapeDataString(value);

    /// <summary>Lowercase hex, the only form SigV4 accepts.</summary>
    public static string Hex(ReadOnlySpan<byte> bytes)
    {
        const string digits = "0123456789abcdef";
        var chars = new char[bytes.Length * 2];
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[2 * i] = digits[bytes[i] >> 4];
            chars[(2 * i) + 1] = digits[bytes[i] & 0xF];
        }

        return new string(chars);
    }

    private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));

    private static string CollapseSpaces(string value)
    {
        var builder = new StringBuilder(value.Length);
        var space = false;
        foreach (var c in value.Trim())
        {
            if (c == ' ')
            {
                if (!space)
                {
                    builder.Append(c);
                }

                space = true;
            }
            else
            {
                builder.Append(c);
                space = false;
            }
        }

        return builder.ToString();
    }
}

/// <summary>A request as SigV4 sees it.</summary>
/// <param name="Method">The HTTP method, e.g. POST.</param>
/// <param name="Path">The absolute path, already in its encoded form ("/" for the Query API).</param>
/// <param name="Query">The query string's parameters, not yet encoded.</param>
/// <param name="Headers">Every header to sign, host and x-amz-date included.</param>
/// <param name="Body">The exact bytes of the body.</param>
internal sealed record SigV4Request(
    string Method,
    string Path,
    IReadOnlyList<KeyValuePair<string, string>> Query,
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    ReadOnlyMemory<byte> Body);
