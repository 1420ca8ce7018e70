using Immutable.Build.Releases;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Immutable.Build.Tasks;

/// <summary>Core's progress log mapped onto MSBuild: important lines at high importance, details at normal, coded warnings.</summary>
internal static class TaskLog
{
    /// <summary>
    /// Runs a task's one Core call and turns failures into coded errors with no stack trace: IMB codes as
    /// they are, cancellation as IMB0002, an unforeseen failure as IMB0003 (its detail in the diagnostic log).
    /// </summary>
    public static bool Guard(TaskLoggingHelper log, CancellationToken cancellation, string cancelled, Action run)
    {
        try
        {
            run();
            return !log.HasLoggedErrors;
        }
        catch (ImmutableBuildException e)
        {
            log.LogError("Immutable.Build", e.Code, null, null, 0, 0, 0, 0, e.Message);
            return false;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            log.LogError("Immutable.Build", "IMB0002", null, null, 0, 0, 0, 0, cancelled);
            return false;
        }
        catch (IOException e) when (DiskFull.Is(e))
        {
            // A write the product did not route through AtomicFile still says what it is, not "unexpected".
            log.LogError("Immutable.Build", GeneralErrors.DiskFull, null, null, 0, 0, 0, 0, $"The disk is full: {e.Message} Free space there, or point the output folder or ImmutableStateDir at another disk, and run again.");
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or HttpRequestException or InvalidOperationException or ArgumentException or NotSupportedException)
        {
            log.LogError("Immutable.Build", "IMB0003", null, null, 0, 0, 0, 0, $"Failed unexpectedly: {e.GetType().Name}: {e.Message} Rerun with -v:diag for the details, and report it if it persists.");
            log.LogMessage(MessageImportance.Low, e.ToString());
            return false;
        }
    }

    public static ReleaseLog For(TaskLoggingHelper log) => new(
        info => log.LogMessage(MessageImportance.High, info),
        detail => log.LogMessage(MessageImportance.Normal, detail),
        (code, warning) => log.LogWarning("Immutable.Build", code, null, null, 0, 0, 0, 0, warning));
}
