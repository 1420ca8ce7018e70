using System.Security.Cryptography;
using System.Text;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;

namespace Immutable.Build.Cli.Tests;

/// <summary>`immutable lock` and `immutable state migrate` on the state directory's files, through the built CLI.</summary>
public sealed class StateCommandTests : IDisposable
{
    private static string CliDll => Path.Combine(AppContext.BaseDirectory, "immutable.dll");

    private readonly string _dir = TestEnvironment.NewWorkDir("cli-state");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Lock_status_release_and_migrate_work_on_the_state_directory_and_name_the_store()
    {
        var ct = TestContext.Current.CancellationToken;
        var from = Path.Combine(_dir, "runner-a");
        var to = Path.Combine(_dir, "shared");
        var scope = new DeploymentScope("shop", "prod");
        var engine = new RolloutEngine(new InMemoryTarget(), new RolloutEngineOptions { StateDirectory = from, PollInterval = TimeSpan.FromMilliseconds(5), Drain = TimeSpan.Zero, GetEnvironmentVariable = _ => null });
        foreach (var id in new[] { "v1", "v2" })
        {
            Assert.True((await engine.DeployAsync(scope, Release(id), RolloutStrategy.BlueGreen(1), ct)).Succeeded);
        }

        string[] app = ["--app", "shop", "--environment", "prod"];
        var free = await CliAsync(["lock", "status", .. app, "--state-dir", from]);
        Assert.Equal(0, free.ExitCode);
        Assert.Contains($"state: {new Uri(from + "/").AbsoluteUri}", free.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("lock: free", free.StandardOutput, StringComparison.Ordinal);

        var unforced = await CliAsync(["lock", "release", .. app, "--state-dir", from]);
        Assert.Equal(1, unforced.ExitCode);
        Assert.Contains("error IMB6208", unforced.Output, StringComparison.Ordinal);

        var target = new Uri(to + "/").AbsoluteUri;
        var migrated = await CliAsync(["state", "migrate", "--to", target, .. app, "--state-dir", from]);
        Assert.True(migrated.ExitCode == 0, migrated.Output);
        Assert.Contains("migrated", migrated.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllText(Path.Combine(from, "rollouts", scope.Key, "ledger.jsonl")), File.ReadAllText(Path.Combine(to, "rollouts", scope.Key, "ledger.jsonl")));
        Assert.Equal(File.ReadAllText(Path.Combine(from, "rollouts", scope.Key, "journal.jsonl")), File.ReadAllText(Path.Combine(to, "rollouts", scope.Key, "journal.jsonl")));

        // A runner with an empty state directory reads the whole history from the store the URL names.
        var fresh = Path.Combine(_dir, "runner-b");
        var history = await CliAsync(["history", .. app, "--state-dir", fresh, "--state-url", target]);
        Assert.True(history.ExitCode == 0, history.Output);
        Assert.Contains($"# state: {target}", history.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("v1", history.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("v2", history.StandardOutput, StringComparison.Ordinal);

        var again = await CliAsync(["state", "migrate", "--to", target, .. app, "--state-dir", from]);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("error IMB6207", again.Output, StringComparison.Ordinal);

        var bad = await CliAsync(["history", .. app, "--state-dir", fresh, "--state-url", "ftp://nowhere/x"]);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("error IMB6203", bad.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", bad.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task State_repair_replaces_a_damaged_journal_line_that_stops_history_and_says_what_it_did()
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = Path.Combine(_dir, "damaged");
        var scope = new DeploymentScope("shop", "prod");
        var engine = new RolloutEngine(new InMemoryTarget(), new RolloutEngineOptions { StateDirectory = dir, PollInterval = TimeSpan.FromMilliseconds(5), Drain = TimeSpan.Zero, GetEnvironmentVariable = _ => null });
        foreach (var id in new[] { "v1", "v2" })
        {
            Assert.True((await engine.DeployAsync(scope, Release(id), RolloutStrategy.BlueGreen(1), ct)).Succeeded);
        }

        var journal = Path.Combine(dir, "rollouts", scope.Key, "journal.jsonl");
        var lines = await File.ReadAllLinesAsync(journal, ct);
        lines[1] = lines[1][..(lines[1].Length / 2)] + "\u0001 disk damage";
        await File.WriteAllLinesAsync(journal, lines, ct);
        string[] app = ["--app", "shop", "--environment", "prod", "--state-dir", dir];

        var stopped = await CliAsync(["history", .. app]);
        Assert.Equal(1, stopped.ExitCode);
        Assert.Contains("error IMB6210", stopped.Output, StringComparison.Ordinal);
        Assert.Contains($"{journal} line 2 ", stopped.Output, StringComparison.Ordinal);
        Assert.Contains("immutable state repair --app shop --environment prod", stopped.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stopped.Output, StringComparison.Ordinal);

        var repaired = await CliAsync(["state", "repair", .. app]);
        Assert.True(repaired.ExitCode == 0, repaired.Output);
        Assert.Contains($"replaced {journal} line 2:", repaired.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("disk damage", (await File.ReadAllLinesAsync(journal, ct))[1], StringComparison.Ordinal);

        var history = await CliAsync(["history", .. app]);
        Assert.True(history.ExitCode == 0, history.Output);
        Assert.Contains("v1", history.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("v2", history.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("state-repair", history.StandardOutput, StringComparison.Ordinal);

        var whole = await CliAsync(["state", "repair", .. app]);
        Assert.True(whole.ExitCode == 0, whole.Output);
        Assert.Contains("nothing to do", whole.StandardOutput, StringComparison.Ordinal);
    }

    private static Task<ProcessResult> CliAsync(string[] arguments) =>
        ProcessRunner.RunAsync("dotnet", [CliDll, .. arguments], environment: new Dictionary<string, string?> { ["IMMUTABLE_STATE_URL"] = null }, timeout: TimeSpan.FromMinutes(1));

    private static ReleaseRef Release(string id)
    {
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)));
        return new ReleaseRef(id, "shop@" + digest, digest, "registry.test/shop@" + digest, new string('a', 40));
    }
}
