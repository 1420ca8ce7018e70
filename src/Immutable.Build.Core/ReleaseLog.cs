namespace Immutable.Build;

/// <summary>Where a release reports progress: important lines, details, and coded warnings.</summary>
public sealed record ReleaseLog(Action<string> Info, Action<string> Detail, Action<string, string> Warning)
{
    /// <summary>Discards everything.</summary>
    public static ReleaseLog None { get; } = new(_ => { }, _ => { }, (_, _) => { });
}
