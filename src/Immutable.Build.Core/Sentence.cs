namespace Immutable.Build;

/// <summary>
/// Joins message parts that may already end in a full stop (an inner error's message, a gate's reason), so a
/// composed message never ends a sentence in "..".
/// </summary>
public static class Sentence
{
    /// <summary><paramref name="text"/> ending in one full stop, or in its own '!' or '?'.</summary>
    public static string End(string? text)
    {
        var t = (text ?? "").TrimEnd();
        return t.Length == 0 || t[^1] is '.' or '!' or '?' ? t : t + ".";
    }

    /// <summary><paramref name="text"/> without its closing full stop, to go on with the same sentence ("...; rolling back").</summary>
    public static string Open(string? text)
    {
        var t = (text ?? "").TrimEnd();
        return t.EndsWith('.') && !t.EndsWith("..", StringComparison.Ordinal) ? t[..^1] : t;
    }
}
