namespace HelloImmutable;

/// <summary>What GET / says. The demo edits this line to make a second release.</summary>
internal static class Greeting
{
    public const string Text = "Hello from an immutable release";
}
