using System.Globalization;
using System.Text.Json;

namespace Immutable.Build.Cli.Tests;

/// <summary>Later commands need no repetition: the scope remembers the target of its last rollout.</summary>
public sealed partial class LocalRolloutTests
{
    [Fact]
    public async Task After_a_deploy_status_and_rollback_from_another_folder_need_no_options()
    {
        var v1 = await PublishAsync("bluegreen", 1);
        var v2 = await ChangeAndPublishAsync("Hello remembered", strategy: null, replicas: 0);
        var manifest = Path.Combine(_workspace.ProjectDir, "bin", "Release", "net10.0", "immutable", "release.json");
        var report = Path.Combine(Path.GetDirectoryName(manifest)!, "rollout.md");
        File.Delete(report);

        // The CLI writes rollout.md next to the release.json it deployed, as publish does.
        (await RunCliAsync("deploy", manifest, "--state-dir", _state, "--local-port", _port.ToString(CultureInfo.InvariantCulture))).EnsureSuccess("deploy");
        Assert.Contains(v2, await File.ReadAllTextAsync(report, TestContext.Current.CancellationToken), StringComparison.Ordinal);

        // Elsewhere, with the state directory from the environment and no option at all.
        var elsewhere = TestEnvironment.NewWorkDir("elsewhere");
        var environment = new Dictionary<string, string?> { ["IMMUTABLE_STATE_DIR"] = _state };
        var status = await ProcessRunner.RunAsync("dotnet", [Cli, "status", "--output", "json"], elsewhere, environment, TimeSpan.FromMinutes(3));
        Assert.True(status.ExitCode == 0, status.Output);
        using (var json = JsonDocument.Parse(status.StandardOutput))
        {
            Assert.Equal(v2, json.RootElement.GetProperty("current").GetProperty("releaseId").GetString());
        }

        (await ProcessRunner.RunAsync("dotnet", [Cli, "rollback"], elsewhere, environment, TimeSpan.FromMinutes(3))).EnsureSuccess("rollback");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(v1, ReleaseOf(await http.GetStringAsync(Proxy, TestContext.Current.CancellationToken)));
    }
}
