namespace Immutable.Build;

/// <summary>
/// Labels every release image carries. They live in the kernel because the image is written by Releases and read
/// back by every target (a container or process of the app that no rollout started is drift).
/// </summary>
public static class ReleaseLabels
{
    /// <summary>The app the image belongs to.</summary>
    public const string App = "immutable.app";
}
