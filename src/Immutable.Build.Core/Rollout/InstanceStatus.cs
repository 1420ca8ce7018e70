namespace Immutable.Build.Rollout;

/// <summary>How the engine reads the free-text status a target reports for an instance.</summary>
internal static class InstanceStatus
{
    public static bool IsRunning(string status) => status.Equals("running", StringComparison.OrdinalIgnoreCase) || status.Equals("healthy", StringComparison.OrdinalIgnoreCase);

    public static bool IsDead(string status) => status.ToLowerInvariant() is "exited" or "failed" or "dead" or "stopped" or "crashed";
}
