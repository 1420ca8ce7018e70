namespace PlainApi.Domain;

/// <summary>What GET / answers.</summary>
public static class Welcome
{
    public const string Text = "PlainApi v1";
}
