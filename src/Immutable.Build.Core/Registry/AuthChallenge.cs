using System.Text;

namespace Immutable.Build.Registry;

/// <summary>One challenge of a WWW-Authenticate header: <c>Bearer realm="...",service="...",scope="..."</c> or <c>Basic realm="..."</c>.</summary>
internal sealed class AuthChallenge
{
    public AuthChallenge(string scheme, IReadOnlyDictionary<string, string> parameters)
    {
        Scheme = scheme;
        Parameters = parameters;
    }

    public string Scheme { get; }

    public IReadOnlyDictionary<string, string> Parameters { get; }

    public bool IsBearer => string.Equals(Scheme, "Bearer", StringComparison.OrdinalIgnoreCase);

    public bool IsBasic => string.Equals(Scheme, "Basic", StringComparison.OrdinalIgnoreCase);

    public string? Realm => Get("realm");

    public string? Service => Get("service");

    public string? Scope => Get("scope");

    /// <summary>The RFC 6750 error, e.g. insufficient_scope when a valid token lacks rights.</summary>
    public string? Error => Get("error");

    /// <summary>The challenge this client answers: Bearer before Basic; null when the registry offers neither.</summary>
    public static AuthChallenge? Select(IEnumerable<string> headerValues)
    {
        var all = headerValues.SelectMany(Parse).ToList();
        return all.FirstOrDefault(c => c.IsBearer) ?? all.FirstOrDefault(c => c.IsBasic);
    }

    /// <summary>
    /// Parses a header value that may hold several challenges. Quoted values keep their commas
    /// (a scope such as repository:a:pull,push); unquoted values are read leniently up to the next
    /// comma, because some token services send realm=https://... without quotes.
    /// </summary>
    public static IReadOnlyList<AuthChallenge> Parse(string header)
    {
        var result = new List<AuthChallenge>();
        var i = 0;
        while (true)
        {
            SkipWhile(header, ref i, c => c == ',' || char.IsWhiteSpace(c));
            if (i >= header.Length)
            {
                return result;
            }

            var scheme = ReadToken(header, ref i);
            if (scheme.Length == 0)
            {
                i++;
                continue;
            }

            var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            while (true)
            {
                var mark = i;
                SkipWhile(header, ref i, c => c == ',' || char.IsWhiteSpace(c));
                var name = ReadToken(header, ref i);
                SkipWhile(header, ref i, c => c is ' ' or '\t');
                if (name.Length == 0 || i >= header.Length || header[i] != '=')
                {
                    // Not name=value: the next challenge (or a token68) starts at mark.
                    i = mark;
                    break;
                }

                i++;
                SkipWhile(header, ref i, c => c is ' ' or '\t');
                parameters[name] = i < header.Length && header[i] == '"' ? ReadQuoted(header, ref i) : ReadUnquoted(header, ref i);
            }

            result.Add(new AuthChallenge(scheme, parameters));
        }
    }

    /// <summary>Names the scheme and realm only; parameters never carry secrets, but there is no reason to print them.</summary>
    public override string ToString() => Realm is null ? Scheme : $"{Scheme} realm {Realm}";

    private string? Get(string name) => Parameters.TryGetValue(name, out var v) && v.Length > 0 ? v : null;

    private static void SkipWhile(string s, ref int i, Func<char, bool> predicate)
    {
        while (i < s.Length && predicate(s[i]))
        {
            i++;
        }
    }

    private static string ReadToken(string s, ref int i)
    {
        var start = i;
        SkipWhile(s, ref i, c => !char.IsWhiteSpace(c) && c is not ',' and not '=' and not '"');
        return s[start..i];
    }

    private static string ReadUnquoted(string s, ref int i)
    {
        var start = i;
        SkipWhile(s, ref i, c => c != ',' && !char.IsWhiteSpace(c));
        return s[start..i];
    }

    private static string ReadQuoted(string s, ref int i)
    {
        var value = new StringBuilder();
        i++;
        while (i < s.Length && s[i] != '"')
        {
            if (s[i] == '\\' && i + 1 < s.Length)
            {
                i++;
            }

            value.Append(s[i]);
            i++;
        }

        i = Math.Min(i + 1, s.Length);
        return value.ToString();
    }
}
