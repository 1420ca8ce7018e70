using System.Text;
using Immutable.Build.Rollout;
using Immutable.Build.State;
using Immutable.Build.Targets;
using static Immutable.Build.Core.Tests.Rollout.RolloutTestKit;

namespace Immutable.Build.Core.Tests.Rollout;

/// <summary>
/// A journal or ledger whose last line was torn by a power loss (cut at every byte offset), or with any one line
/// corrupted: the next command never loses a release, never takes an older release for the current one and never
/// decommissions the group that serves; a torn tail is dropped with a warning, a corrupt middle line stops the
/// command before it writes anything.
/// </summary>
public sealed class TornStateTests : IDisposable
{
    private static readonly string[] Commands = ["deploy", "deploy-unhealthy", "repair", "rollback"];

    private readonly string _dir = TestEnvironment.NewWorkDir("rollout-torn");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_junk_ledger_line_holding_the_current_rollout_does_not_make_the_next_deploy_remove_the_serving_group()
    {
        var (scope, target, engine, log) = await TwoReleasesAsync("junk");
        var ledger = Path.Combine(engine.ScopeDirectory(scope), "ledger.jsonl");
        var lines = await File.ReadAllLinesAsync(ledger, TestContext.Current.CancellationToken);
        lines[^1] = "{\"type\":\"rollout\",\"rolloutId\":\u0000\u0000 junk";
        await File.WriteAllLinesAsync(ledger, lines, TestContext.Current.CancellationToken);
        target.Inner.SetHealth("v3", InMemoryHealth.Exits);

        var result = await engine.DeployAsync(scope, Release("v3"), RolloutStrategy.BlueGreen(2), TestContext.Current.CancellationToken);

        Assert.False(result.Succeeded);
        Assert.Empty(target.Violations);
        Assert.Equal("v2", result.PreviousRelease?.ReleaseId);
        await AssertServesAsync(target, scope, Release("v2"));
        var history = await engine.HistoryAsync(scope, TestContext.Current.CancellationToken);
        Assert.Contains(history, e => e.IsSuccessfulRollout && e.Release?.ReleaseId == "v2");
        Assert.Contains(log, l => l.StartsWith(StateErrors.TornTail, StringComparison.Ordinal));
    }

    public static TheoryData<string, int> TornTails()
    {
        var data = new TheoryData<string, int>();
        foreach (var file in new[] { "journal", "ledger" })
        {
            // One case per byte offset of the last line; the offsets take the next commands in turn.
            for (var cut = 0; cut < Commands.Length; cut++)
            {
                data.Add(file, cut);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(TornTails))]
    public async Task A_last_line_cut_at_any_byte_is_dropped_with_a_warning(string file, int commandOffset)
    {
        var baseline = await BaselineAsync($"baseline-{file}-{commandOffset}");
        var bytes = file == "journal" ? baseline.Journal : baseline.Ledger;
        var lastStart = Array.LastIndexOf(bytes, (byte)'\n', bytes.Length - 2) + 1;
        var lastLength = bytes.Length - lastStart;
        var cuts = Enumerable.Range(0, lastLength).Where(c => c % Commands.Length == commandOffset);
        await Parallel.ForEachAsync(cuts, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = TestContext.Current.CancellationToken }, async (cut, _) =>
        {
            var command = Commands[cut % Commands.Length];
            var (scope, target, engine, log) = await FromBaselineAsync($"{file}-{cut}", baseline, file, bytes[..(lastStart + cut)]);
            var context = $"{file} cut at byte {cut} of {lastLength}, then {command}";

            await RunAndAssertAsync(scope, target, engine, command, context);

            // Cut at its first byte the line is gone, cut before its newline it is whole; any other cut tears it.
            if (cut > 0 && cut < lastLength - 1)
            {
                Assert.True(log.Any(l => l.StartsWith(StateErrors.TornTail, StringComparison.Ordinal)), $"{context}: no {StateErrors.TornTail} warning in {string.Join(" | ", log)}");
            }
        });
    }

    public static TheoryData<string, string> CorruptLines()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in new[] { "journal", "ledger" })
        {
            foreach (var command in Commands)
            {
                data.Add(file, command);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CorruptLines))]
    public async Task A_corrupt_middle_line_stops_the_command_and_a_corrupt_last_line_is_a_torn_tail(string file, string command)
    {
        var baseline = await BaselineAsync($"baseline-{file}-{command}");
        var original = Encoding.UTF8.GetString(file == "journal" ? baseline.Journal : baseline.Ledger).TrimEnd('\n').Split('\n');
        var count = original.Length;
        var cases = Enumerable.Range(1, count).SelectMany(n => new[] { (n, "junk"), (n, "flip") });
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = TestContext.Current.CancellationToken }, async (c, _) =>
        {
            var (n, corruption) = c;
            var lines = original.ToArray();
            lines[n - 1] = Corrupt(lines[n - 1], corruption);
            var (scope, target, engine, log) = await FromBaselineAsync($"{file}-{command}-{n}-{corruption}", baseline, file, Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
            var path = Path.Combine(engine.ScopeDirectory(scope), file + ".jsonl");
            var context = $"{file} line {n}/{count} corrupted ({corruption}), then {command}";
            if (n < count)
            {
                var journalBefore = await File.ReadAllBytesAsync(Path.Combine(engine.ScopeDirectory(scope), "journal.jsonl"), TestContext.Current.CancellationToken);
                var ledgerBefore = await File.ReadAllBytesAsync(Path.Combine(engine.ScopeDirectory(scope), "ledger.jsonl"), TestContext.Current.CancellationToken);
                var callsBefore = target.Inner.Calls.Count(c => c != "observe");
                var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => RunAsync(scope, target, engine, command));
                Assert.True(e.Code == StateErrors.CorruptLine, $"{context}: {e}");
                Assert.Contains(path, e.Message, StringComparison.Ordinal);
                Assert.Contains($"line {n} ", e.Message, StringComparison.Ordinal);
                Assert.Equal(journalBefore, await File.ReadAllBytesAsync(Path.Combine(engine.ScopeDirectory(scope), "journal.jsonl"), TestContext.Current.CancellationToken));
                Assert.Equal(ledgerBefore, await File.ReadAllBytesAsync(Path.Combine(engine.ScopeDirectory(scope), "ledger.jsonl"), TestContext.Current.CancellationToken));
                Assert.Equal(callsBefore, target.Inner.Calls.Count(c => c != "observe"));
                await AssertServesAsync(target, scope, Release("v2"));

                // `immutable state repair` keeps the line's text in the record it puts in its place; then the
                // same command goes ahead and nothing is lost.
                var repaired = await engine.RepairStateAsync(scope, TestContext.Current.CancellationToken);
                Assert.True(repaired.Any(r => r.Contains($"line {n}:", StringComparison.Ordinal)), $"{context}: repair did {string.Join(" | ", repaired)}");
                Assert.Contains(await File.ReadAllLinesAsync(path, TestContext.Current.CancellationToken), l => l.Contains("damagedText", StringComparison.Ordinal));
                Assert.Empty(await engine.RepairStateAsync(scope, TestContext.Current.CancellationToken));
                await RunAndAssertAsync(scope, target, engine, command, context + ", repaired");
            }
            else
            {
                await RunAndAssertAsync(scope, target, engine, command, context);
                Assert.True(log.Any(l => l.StartsWith(StateErrors.TornTail, StringComparison.Ordinal)), $"{context}: no warning");
            }
        });
    }

    /// <summary>junk: bytes that are no JSON in the middle of the line; flip: one letter of a value changed, still valid JSON.</summary>
    private static string Corrupt(string line, string how)
    {
        if (how == "junk")
        {
            var middle = line.Length / 2;
            return line[..middle] + "\u0000#?" + line[(middle + 3)..];
        }

        var at = line.IndexOf("\"rollout", StringComparison.Ordinal);
        at = line.IndexOf(':', at) + 2;
        return line[..at] + (line[at] == 'x' ? 'y' : 'x') + line[(at + 1)..];
    }

    /// <summary>The next command; null for status --repair, which rolls nothing out here.</summary>
    private static async Task<RolloutResult?> RunAsync(DeploymentScope scope, GuardedTarget target, RolloutEngine engine, string command)
    {
        var token = TestContext.Current.CancellationToken;
        switch (command)
        {
            case "deploy":
                return await engine.DeployAsync(scope, Release("v3"), RolloutStrategy.BlueGreen(2), token);
            case "deploy-unhealthy":
                target.Inner.SetHealth("v3", InMemoryHealth.Exits);
                return await engine.DeployAsync(scope, Release("v3"), RolloutStrategy.BlueGreen(2), token);
            case "repair":
                var status = await engine.StatusAsync(scope, repair: true, token);
                Assert.True(status.Current?.ReleaseId == "v2", $"status --repair: current {status.Current?.ReleaseId}");
                return null;
            default:
                return await engine.RollbackAsync(scope, cancellationToken: token);
        }
    }

    private static async Task RunAndAssertAsync(DeploymentScope scope, GuardedTarget target, RolloutEngine engine, string command, string context)
    {
        if (await RunAsync(scope, target, engine, command) is { } result)
        {
            Assert.True(result.PreviousRelease?.ReleaseId == "v2", $"{context}: replaced {result.PreviousRelease?.ReleaseId}, not v2");
            Assert.True(result.Succeeded == (command != "deploy-unhealthy"), $"{context}: {result.Outcome} {result.Reason}");
        }

        var expected = command switch { "deploy" => "v3", "rollback" => "v1", _ => "v2" };
        Assert.True(target.Violations.Count == 0, $"{context}: {string.Join("; ", target.Violations)}");
        await AssertServesAsync(target, scope, Release(expected));
        var history = await engine.HistoryAsync(scope, TestContext.Current.CancellationToken);
        foreach (var kept in new[] { "v1", "v2" })
        {
            Assert.True(history.Any(e => e.IsSuccessfulRollout && e.Release?.ReleaseId == kept), $"{context}: {kept} lost from the ledger");
        }

        var after = await engine.StatusAsync(scope, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(after.Current?.ReleaseId == expected, $"{context}: status says {after.Current?.ReleaseId}, expected {expected}");
        Assert.Null(after.Interrupted);
    }

    /// <summary>The state and serving group that v1 then v2 leave, deployed once and laid down again for each case.</summary>
    private sealed record Baseline(byte[] Journal, byte[] Ledger, string Group, int Replicas);

    private async Task<Baseline> BaselineAsync(string name)
    {
        var (scope, target, engine, _) = await TwoReleasesAsync(name);
        var directory = engine.ScopeDirectory(scope);
        var current = (await engine.HistoryAsync(scope, TestContext.Current.CancellationToken)).Last(e => e.IsSuccessfulRollout);
        await AssertServesAsync(target, scope, Release("v2"));
        return new Baseline(
            await File.ReadAllBytesAsync(Path.Combine(directory, "journal.jsonl"), TestContext.Current.CancellationToken),
            await File.ReadAllBytesAsync(Path.Combine(directory, "ledger.jsonl"), TestContext.Current.CancellationToken),
            current.CurrentGroups.Single(),
            current.Replicas);
    }

    /// <summary>A fresh state directory with the baseline's logs (<paramref name="file"/> replaced by <paramref name="damaged"/>) and a target serving v2 as the baseline left it.</summary>
    private async Task<(DeploymentScope Scope, GuardedTarget Target, RolloutEngine Engine, List<string> Log)> FromBaselineAsync(string name, Baseline baseline, string file, byte[] damaged)
    {
        var scope = new DeploymentScope("hello", "torn");
        var target = new GuardedTarget(new InMemoryTarget());
        var log = new List<string>();
        var engine = new RolloutEngine(target, Options(Path.Combine(_dir, name), log));
        var directory = Directory.CreateDirectory(engine.ScopeDirectory(scope)).FullName;
        await File.WriteAllBytesAsync(Path.Combine(directory, "journal.jsonl"), file == "journal" ? damaged : baseline.Journal, TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(Path.Combine(directory, "ledger.jsonl"), file == "ledger" ? damaged : baseline.Ledger, TestContext.Current.CancellationToken);
        await target.Inner.LaunchAsync(new LaunchRequest(scope, Release("v2"), baseline.Group, baseline.Replicas, new Dictionary<string, string>()), TestContext.Current.CancellationToken);
        await target.Inner.RouteAsync(scope, new Dictionary<string, int> { [baseline.Group] = 100 }, TestContext.Current.CancellationToken);
        return (scope, target, engine, log);
    }

    /// <summary>v1 then v2, blue-green with two replicas, in a fresh state directory and target.</summary>
    private async Task<(DeploymentScope Scope, GuardedTarget Target, RolloutEngine Engine, List<string> Log)> TwoReleasesAsync(string name)
    {
        var scope = new DeploymentScope("hello", "torn");
        var target = new GuardedTarget(new InMemoryTarget());
        var log = new List<string>();
        var engine = new RolloutEngine(target, Options(Path.Combine(_dir, name), log));
        foreach (var v in new[] { "v1", "v2" })
        {
            var r = await engine.DeployAsync(scope, Release(v), RolloutStrategy.BlueGreen(2), TestContext.Current.CancellationToken);
            Assert.True(r.Succeeded, r.Reason);
        }

        log.Clear();
        return (scope, target, engine, log);
    }
}

/// <summary>Records every decommission of a group that traffic was routed to at the time: what took the 503s of issue 14.</summary>
internal sealed class GuardedTarget(InMemoryTarget inner) : IDeploymentTarget
{
    public InMemoryTarget Inner => inner;

    public List<string> Violations { get; } = [];

    public string Name => inner.Name;

    public Task<TargetState> ObserveAsync(DeploymentScope scope, CancellationToken cancellationToken) => inner.ObserveAsync(scope, cancellationToken);

    public Task<IReadOnlyList<InstanceInfo>> LaunchAsync(LaunchRequest request, CancellationToken cancellationToken) => inner.LaunchAsync(request, cancellationToken);

    public Task RouteAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weightsByGroup, CancellationToken cancellationToken) => inner.RouteAsync(scope, weightsByGroup, cancellationToken);

    public async Task DecommissionAsync(DeploymentScope scope, string group, TimeSpan drain, CancellationToken cancellationToken)
    {
        var state = await inner.ObserveAsync(scope, cancellationToken);
        if (state.WeightsByGroup.GetValueOrDefault(group) > 0)
        {
            Violations.Add($"decommissioned {group} while it had {state.WeightsByGroup[group]}% of the traffic");
        }

        await inner.DecommissionAsync(scope, group, drain, cancellationToken);
    }

    public Task PruneAsync(DeploymentScope scope, IReadOnlyCollection<string> keepImageDigests, CancellationToken cancellationToken) => inner.PruneAsync(scope, keepImageDigests, cancellationToken);
}
