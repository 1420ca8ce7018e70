using Immutable.Build.Releases;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Immutable.Build.Tasks;

/// <summary>Core's progress log mapped onto MSBuild: important lines at high importance, details at normal, coded warnings.</summary>
internal static class TaskLog
{
    public static ReleaseLog For(TaskLoggingHelper log) => new(
        info => log.LogMessage(MessageImportance.High, info),
        detail => log.LogMessage(MessageImportance.Normal, detail),
        (code, warning) => log.LogWarning("Immutable.Build", code, null, null, 0, 0, 0, 0, warning));
}
