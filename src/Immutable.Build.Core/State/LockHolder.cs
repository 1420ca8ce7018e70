namespace Immutable.Build.State;

/// <summary>Who holds a deploy lock: enough for a waiter to find the holder and for an operator to judge it stale.</summary>
/// <param name="Origin">Who and where.</param>
/// <param name="Command">What it does (deploy 1.4.0+abc, rollback to previous, prune).</param>
/// <param name="Since">When it took the lock.</param>
/// <param name="Expires">When the lock lapses unless renewed; null for a file lock, which the OS drops when its holder dies.</param>
/// <param name="LeaseId">Tells one holding apart from the next, so a late renewal never revives a lock another took over.</param>
public sealed record LockHolder(RecordOrigin Origin, string Command, DateTimeOffset Since, DateTimeOffset? Expires, string LeaseId)
{
    /// <summary>One line for messages: <c>deploy 1.4.0 by me@runner-7 (pid 4711) since 2026-12-03 10:00:00Z, CI run https://...</c>.</summary>
    public string Describe() =>
        $"{Command} by {Origin.Describe()} since {Since:u}{(Expires is { } e ? $", lease until {e:u}" : "")}";
}
