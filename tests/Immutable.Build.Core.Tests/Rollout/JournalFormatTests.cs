using System.Text.Json;
using System.Text.RegularExpressions;
using Immutable.Build.Rollout;
using static Immutable.Build.Core.Tests.Rollout.RolloutTestKit;

namespace Immutable.Build.Core.Tests.Rollout;

/// <summary>Journals already on disk keep reading: record kinds and phases are written by the names they always had.</summary>
public sealed partial class JournalFormatTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewWorkDir("rollout-journal");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("""{"type":"begin","rollout":"hello-test-1","seq":1,"at":"2026-01-01T00:00:00+00:00","strategy":"bluegreen","trigger":"deploy","replicas":2,"steps":6,"previousGroups":[],"nextGroups":["r1-v1"]}""")]
    [InlineData("""{"type":"step","rollout":"hello-test-1","seq":1,"at":"2026-01-01T00:00:00+00:00","index":0,"phase":"start","step":"launch"}""")]
    [InlineData("""{"type":"step","rollout":"hello-test-1","seq":1,"at":"2026-01-01T00:00:00+00:00","index":2,"phase":"done","step":"shift traffic","detail":"r1-v1 100%","weights":{"r1-v1":100}}""")]
    [InlineData("""{"type":"step","rollout":"hello-test-1","seq":1,"at":"2026-01-01T00:00:00+00:00","index":1,"phase":"failed","step":"wait healthy","detail":"r1-v1: 0/2 instance(s) running"}""")]
    [InlineData("""{"type":"rollback","rollout":"hello-test-1","seq":1,"at":"2026-01-01T00:00:00+00:00","phase":"start","reason":"gate failed"}""")]
    [InlineData("""{"type":"end","rollout":"hello-test-1","seq":1,"at":"2026-01-01T00:00:00+00:00","outcome":"rolled-back","reason":"gate failed"}""")]
    public void A_journal_line_reads_and_writes_back_byte_for_byte(string line)
    {
        var record = JsonSerializer.Deserialize(line, RolloutJsonContext.Default.JournalRecord);
        Assert.NotNull(record);
        Assert.Equal(line, JsonSerializer.Serialize(record, RolloutJsonContext.Default.JournalRecord));
    }

    [Fact]
    public void Kinds_and_phases_are_written_by_name_never_by_number()
    {
        var record = new JournalRecord { Type = JournalKind.Rollback, Rollout = "r", Phase = JournalPhase.Done };
        var json = JsonSerializer.Serialize(record, RolloutJsonContext.Default.JournalRecord);
        Assert.StartsWith("""{"type":"rollback","rollout":"r",""", json, StringComparison.Ordinal);
        Assert.Contains("\"phase\":\"done\"", json, StringComparison.Ordinal);
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize("""{"type":3,"rollout":"r"}""", RolloutJsonContext.Default.JournalRecord));
    }

    [Fact]
    public async Task A_rollout_and_its_rollback_write_only_the_known_names()
    {
        var ct = TestContext.Current.CancellationToken;
        var target = new InMemoryTarget();
        var scope = Scope();
        var engine = new RolloutEngine(target, Options(_dir));
        Assert.True((await engine.DeployAsync(scope, Release("v1"), RolloutStrategy.Canary(2, [50, 100]), ct)).Succeeded);
        target.SetHealth("v2", InMemoryHealth.Exits);
        Assert.False((await engine.DeployAsync(scope, Release("v2"), RolloutStrategy.Canary(2, [50, 100]), ct)).Succeeded);

        var lines = await File.ReadAllLinesAsync(Path.Combine(engine.ScopeDirectory(scope), "journal.jsonl"), ct);
        Assert.All(lines, l => Assert.Matches(KnownType(), l));
        Assert.All(lines.Where(l => l.Contains("\"phase\"", StringComparison.Ordinal)), l => Assert.Matches(KnownPhase(), l));
        Assert.Equal(["begin", "step", "rollback", "end"], lines.Select(l => KnownType().Match(l).Groups[1].Value).Distinct().Order(StringComparer.Ordinal).OrderBy(k => Array.IndexOf(["begin", "step", "rollback", "end"], k)));
        Assert.Contains(lines, l => l.Contains("\"phase\":\"failed\"", StringComparison.Ordinal));
    }

    [GeneratedRegex("^\\{\"type\":\"(begin|step|rollback|end)\",")]
    private static partial Regex KnownType();

    [GeneratedRegex("\"phase\":\"(start|done|failed)\"")]
    private static partial Regex KnownPhase();
}
