using System.Globalization;
using Immutable.Build.Targets;

namespace Immutable.Build.Rollout;

/// <summary>
/// Runs strategies against an <see cref="IDeploymentTarget"/>. Every call takes the scope's deploy lock and first
/// converges whatever an earlier, interrupted call left (finishing it forward when it had promoted, rolling it back
/// otherwise, then decommissioning any group no rollout owns), so the journal never needs a separate repair command.
/// </summary>
public sealed partial class RolloutEngine
{
    private readonly IDeploymentTarget _target;
    private readonly RolloutEngineOptions _options;

    /// <summary>Creates an engine for one target.</summary>
    public RolloutEngine(IDeploymentTarget target, RolloutEngineOptions options)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.StateDirectory);
        _target = target;
        _options = options;
    }

    private TimeProvider Time => _options.Time;

    /// <summary>Rolls <paramref name="release"/> out with <paramref name="strategy"/>. A failed gate rolls back and is reported in the result, not thrown (see <see cref="RolloutResult.ThrowIfNotSucceeded"/>).</summary>
    public async Task<RolloutResult> DeployAsync(DeploymentScope scope, ReleaseRef release, RolloutStrategy strategy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(release);
        ArgumentNullException.ThrowIfNull(strategy);
        var store = Store(scope);
        using var held = await DeployLock.AcquireAsync(store.Directory, $"deploy {release.ReleaseId}", _options.LockTimeout, Time, cancellationToken);
        var repairs = await ConvergeAsync(scope, store, cancellationToken);
        return await RunAsync(scope, store, release, strategy, "deploy", repairs, cancellationToken);
    }

    /// <summary>
    /// Redeploys an earlier successful release from the ledger, by its digest (the target fetches the image again from
    /// its source). Without <paramref name="toReleaseId"/> (a release id or digest), the most recent successful release
    /// other than the current one. The strategy defaults to blue-green with the current replica count.
    /// </summary>
    public async Task<RolloutResult> RollbackAsync(DeploymentScope scope, string? toReleaseId = null, RolloutStrategy? strategy = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var store = Store(scope);
        using var held = await DeployLock.AcquireAsync(store.Directory, $"rollback to {toReleaseId ?? "previous"}", _options.LockTimeout, Time, cancellationToken);
        var repairs = await ConvergeAsync(scope, store, cancellationToken);
        var ledger = store.ReadLedger();
        var current = LastRollout(ledger);
        var successes = ledger.Where(e => e.IsSuccessfulRollout && e.Release is not null).ToList();
        var pick = toReleaseId is null
            ? successes.LastOrDefault(e => e.Release!.ImageDigest != current?.Current?.ImageDigest)
            : successes.LastOrDefault(e => e.Release!.ReleaseId == toReleaseId || e.Release.ImageDigest == toReleaseId);
        if (pick is null)
        {
            var known = string.Join(", ", successes.Select(e => e.Release!.ReleaseId).Distinct());
            throw new ImmutableBuildException(
                RolloutErrors.NoRollbackRelease,
                toReleaseId is null
                    ? $"There is no earlier successful release of {scope.App} in {scope.Environment} to roll back to{(known.Length == 0 ? "" : $" (successful: {known})")}. Run `immutable history`."
                    : $"Release '{toReleaseId}' was never rolled out successfully to {scope.App} in {scope.Environment}{(known.Length == 0 ? "" : $"; successful releases: {known}")}. Run `immutable history` and pick one of them.");
        }

        strategy ??= RolloutStrategy.BlueGreen(Math.Max(1, current?.Replicas > 0 ? current.Replicas : pick.Replicas));
        return await RunAsync(scope, store, pick.Release!, strategy, "rollback", repairs, cancellationToken);
    }

    /// <summary>Keeps the current release and the <paramref name="keep"/> most recent other successful releases on the target; removes what the target keeps for the rest.</summary>
    public async Task<PruneResult> PruneAsync(DeploymentScope scope, int keep, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (keep < 0)
        {
            throw RolloutErrors.Value("ImmutableRetain", keep.ToString(CultureInfo.InvariantCulture), "zero or a positive whole number");
        }

        var store = Store(scope);
        using var held = await DeployLock.AcquireAsync(store.Directory, "prune", _options.LockTimeout, Time, cancellationToken);
        await ConvergeAsync(scope, store, cancellationToken);
        var ledger = store.ReadLedger();
        var current = LastRollout(ledger);
        var byRecency = ledger.Where(e => e.IsSuccessfulRollout).Select(e => e.Release!).Reverse().DistinctBy(r => r.ImageDigest).ToList();
        var kept = new List<ReleaseRef>();
        if (current?.Current is { } c)
        {
            kept.Add(c);
        }

        kept.AddRange(byRecency.Where(r => r.ImageDigest != current?.Current?.ImageDigest).Take(keep));
        var removed = byRecency.Where(r => !kept.Any(k => k.ImageDigest == r.ImageDigest)).ToList();
        await _target.PruneAsync(scope, kept.Select(k => k.ImageDigest).ToList(), cancellationToken);
        store.AppendLedger(new LedgerEntry
        {
            Type = "prune",
            RolloutId = current?.RolloutId ?? "",
            Seq = current?.Seq ?? 0,
            StartedAt = Time.GetUtcNow(),
            EndedAt = Time.GetUtcNow(),
            Current = current?.Current,
            CurrentGroups = current?.CurrentGroups ?? [],
            KeptDigests = kept.Select(k => k.ImageDigest).ToList(),
        });
        _options.Log.Info($"prune: kept {string.Join(", ", kept.Select(k => k.ReleaseId))}; removed {(removed.Count == 0 ? "nothing" : string.Join(", ", removed.Select(r => r.ReleaseId)))}");
        return new PruneResult(kept, removed);
    }

    /// <summary>
    /// What should run (the ledger) against what runs (the target). With <paramref name="repair"/>, first takes the lock
    /// and converges an interrupted rollout and orphan groups, as any deploy would.
    /// </summary>
    public async Task<RolloutStatus> StatusAsync(DeploymentScope scope, bool repair = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var store = Store(scope);
        IReadOnlyList<string> repairs = [];
        DeployLock? held = null;
        try
        {
            if (repair)
            {
                held = await DeployLock.AcquireAsync(store.Directory, "status --repair", _options.LockTimeout, Time, cancellationToken);
                repairs = await ConvergeAsync(scope, store, cancellationToken);
            }

            var ledger = store.ReadLedger();
            var current = LastRollout(ledger);
            var open = FindOpen(store.ReadJournal());
            var state = await _target.ObserveAsync(scope, cancellationToken);
            var currentGroups = current?.CurrentGroups ?? [];
            var groups = state.Instances.GroupBy(i => i.Group, StringComparer.Ordinal)
                .Select(g => new GroupStatus(g.Key, g.First().ReleaseId, state.WeightsByGroup.GetValueOrDefault(g.Key), g.ToList(), currentGroups.Contains(g.Key)))
                .OrderByDescending(g => g.IsCurrent).ThenBy(g => g.Group, StringComparer.Ordinal).ToList();
            var drift = new List<DriftItem>();
            foreach (var i in state.Instances)
            {
                if (!i.ManagedByRollout)
                {
                    drift.Add(new DriftItem(i.Id, i.Group, "not created by a rollout"));
                }
                else if (current?.Current is null)
                {
                    drift.Add(new DriftItem(i.Id, i.Group, "runs although the ledger has no current release"));
                }
                else if (i.ImageDigest != current.Current.ImageDigest)
                {
                    drift.Add(new DriftItem(i.Id, i.Group, $"runs {i.ImageDigest} ({i.ReleaseId}), desired {current.Current.ImageDigest} ({current.Current.ReleaseId})"));
                }
                else if (!currentGroups.Contains(i.Group))
                {
                    drift.Add(new DriftItem(i.Id, i.Group, $"group {i.Group} belongs to no finished rollout"));
                }
            }

            foreach (var host in state.Unreachable)
            {
                drift.Add(new DriftItem("", "", $"not observed: {host}"));
            }

            foreach (var g in currentGroups.Where(g => !state.Instances.Any(i => i.Group == g && IsRunning(i.Status))))
            {
                drift.Add(new DriftItem("", g, $"current group {g} has no running instance"));
            }

            return new RolloutStatus
            {
                Scope = scope,
                Target = _target.Name,
                Current = current?.Current,
                Groups = groups,
                Weights = state.WeightsByGroup,
                Drift = drift,
                Interrupted = open is null ? null : $"rollout {open.Rollout} of {open.Release?.ReleaseId} did not finish; the next deploy, rollback or status --repair converges it",
                Repairs = repairs,
                History = ledger,
            };
        }
        finally
        {
            held?.Dispose();
        }
    }

    /// <summary>The ledger, oldest first.</summary>
    public Task<IReadOnlyList<LedgerEntry>> HistoryAsync(DeploymentScope scope, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult<IReadOnlyList<LedgerEntry>>(Store(scope).ReadLedger());
    }

    /// <summary>The directory holding a scope's journal, ledger and lock.</summary>
    public string ScopeDirectory(DeploymentScope scope) => Store(scope).Directory;

    internal static bool IsRunning(string status) => status.Equals("running", StringComparison.OrdinalIgnoreCase) || status.Equals("healthy", StringComparison.OrdinalIgnoreCase);

    internal static bool IsDead(string status) => status.ToLowerInvariant() is "exited" or "failed" or "dead" or "stopped" or "crashed";

    private ScopeStore Store(DeploymentScope scope) => new(_options.StateDirectory, scope, _options.AfterDurableWrite);

    private static LedgerEntry? LastRollout(List<LedgerEntry> ledger) => ledger.LastOrDefault(e => e.Type == "rollout");

    private static JournalRecord? FindOpen(List<JournalRecord> journal)
    {
        var begin = journal.LastOrDefault(r => r.Type == "begin");
        return begin is null || journal.Any(r => r.Type == "end" && r.Rollout == begin.Rollout) ? null : begin;
    }

    private static string GroupName(int seq, string releaseId, int? batch)
    {
        var safe = new string(releaseId.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray()).Trim('-');
        if (safe.Length > 32)
        {
            safe = safe[..32].TrimEnd('-');
        }

        return string.Create(CultureInfo.InvariantCulture, $"r{seq}-{safe}{(batch is { } b ? $"-b{b}" : "")}");
    }

    /// <summary>Splits <paramref name="total"/> percent over groups in proportion to their sizes (largest remainder, so the parts sum exactly).</summary>
    internal static Dictionary<string, int> Split(int total, IReadOnlyList<(string Group, int Size)> groups)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        var size = groups.Sum(g => Math.Max(g.Size, 0));
        if (groups.Count == 0 || total <= 0)
        {
            foreach (var g in groups)
            {
                result[g.Group] = 0;
            }

            return result;
        }

        var shares = groups.Select(g => (g.Group, Exact: size == 0 ? (double)total / groups.Count : (double)total * Math.Max(g.Size, 0) / size)).ToList();
        foreach (var (g, exact) in shares)
        {
            result[g] = (int)Math.Floor(exact);
        }

        var left = total - result.Values.Sum();
        foreach (var (g, _) in shares.OrderByDescending(s => s.Exact - Math.Floor(s.Exact)).ThenBy(s => s.Group, StringComparer.Ordinal).Take(left))
        {
            result[g]++;
        }

        return result;
    }
}
