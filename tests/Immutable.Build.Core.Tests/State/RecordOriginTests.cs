using System.Text.Json;
using Immutable.Build.Rollout;
using static Immutable.Build.Core.Tests.Rollout.RolloutTestKit;

namespace Immutable.Build.Core.Tests.State;

/// <summary>Every journal and ledger line says who wrote it and from which CI run, and no secret of the environment.</summary>
public sealed class RecordOriginTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewWorkDir("state-origin");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Every_record_carries_its_origin_and_no_secret()
    {
        var env = new Dictionary<string, string>
        {
            ["GITHUB_RUN_ID"] = "4711",
            ["GITHUB_REPOSITORY"] = "acme/shop",
            ["GITHUB_TOKEN"] = "ghs_secret-token-value",
            ["AWS_SECRET_ACCESS_KEY"] = "aws-secret-key-value",
        };
        var scope = Scope();
        var engine = new RolloutEngine(new InMemoryTarget(), Options(_dir) with { GetEnvironmentVariable = n => env.GetValueOrDefault(n) });
        Assert.True((await engine.DeployAsync(scope, Release("v1"), RolloutStrategy.BlueGreen(1), TestContext.Current.CancellationToken)).Succeeded);

        var folder = engine.ScopeDirectory(scope);
        var lines = File.ReadAllLines(Path.Combine(folder, "journal.jsonl")).Concat(File.ReadAllLines(Path.Combine(folder, "ledger.jsonl"))).ToList();
        Assert.True(lines.Count > 5);
        foreach (var line in lines)
        {
            var origin = JsonDocument.Parse(line).RootElement.GetProperty("origin");
            Assert.Equal("https://github.com/acme/shop/actions/runs/4711", origin.GetProperty("ciRun").GetString());
            Assert.Equal(Environment.MachineName, origin.GetProperty("host").GetString());
            Assert.Equal(Environment.ProcessId, origin.GetProperty("pid").GetInt32());
        }

        foreach (var file in Directory.EnumerateFiles(folder))
        {
            var text = File.ReadAllText(file);
            Assert.DoesNotContain("secret-token-value", text, StringComparison.Ordinal);
            Assert.DoesNotContain("aws-secret-key-value", text, StringComparison.Ordinal);
        }
    }
}
