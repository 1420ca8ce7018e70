using Microsoft.Build.Framework;
using MSTask = Microsoft.Build.Utilities.Task;

namespace Immutable.Build.Tasks;

/// <summary>
/// Checks the settings (tags, tag policy, repository) before any build work, then chooses the image engine: <c>immutable</c> (reproducible, layered) or <c>sdk</c> (the SDK's
/// PublishContainer). <c>auto</c> picks sdk when the command line asked for the PublishContainer target,
/// because MSBuild tells a target nothing about which targets were requested.
/// </summary>
public sealed class DetectContainerEngine : MSTask
{
    public string? Requested { get; set; }
    public string[] UserTags { get; set; } = [];
    public string[] MovingTags { get; set; } = [];
    public string? TagPolicy { get; set; }
    public string? Repository { get; set; }

    [Output] public string Engine { get; private set; } = "immutable";

    /// <inheritdoc />
    public override bool Execute()
    {
        try
        {
            Immutable.Build.Releases.ReleaseSettings.Validate(
                UserTags.Where(t => !string.IsNullOrWhiteSpace(t)).Select(t => t.Trim()).ToList(),
                MovingTags.Where(t => !string.IsNullOrWhiteSpace(t)).Select(t => t.Trim()).ToList(),
                TagPolicy,
                Repository);
        }
        catch (ImmutableBuildException e)
        {
            Log.LogError("Immutable.Build", e.Code, null, null, 0, 0, 0, 0, e.Message);
            return false;
        }

        switch ((Requested ?? "auto").Trim().ToLowerInvariant())
        {
            case "immutable":
                Engine = "immutable";
                return true;
            case "sdk":
                Engine = "sdk";
                return true;
            case "" or "auto":
                Engine = Environment.GetCommandLineArgs().Any(RequestsPublishContainer) ? "sdk" : "immutable";
                Log.LogMessage(MessageImportance.Low, $"Immutable.Build engine: {Engine}");
                return true;
            default:
                Log.LogError("Immutable.Build", "IMB1005", null, null, 0, 0, 0, 0, $"ImmutableEngine '{Requested}' is not known; use auto (the default), immutable or sdk.");
                return false;
        }
    }

    private static bool RequestsPublishContainer(string argument)
    {
        var a = argument.TrimStart('-', '/');
        var colon = a.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return false;
        }

        var name = a[..colon].ToLowerInvariant();
        return name is "t" or "target" && a[(colon + 1)..].Split(';', ',').Any(t => t.Trim().Equals("PublishContainer", StringComparison.OrdinalIgnoreCase));
    }
}
