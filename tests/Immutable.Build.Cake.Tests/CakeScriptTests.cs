using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Immutable.Build.Cake.Tests;

/// <summary>
/// The sample Cake script (samples/cake/build.cake) run with `dotnet cake`, loading the addin from the freshly
/// packed local feed, against a copy of the sample app: bake, roll out to the local target, roll back, status.
/// </summary>
public sealed partial class CakeScriptTests : IAsyncLifetime
{
    private readonly string _state = TestEnvironment.NewWorkDir("cake-state");
    private readonly int _port = TestNetwork.FreePort();
    private SampleWorkspace _workspace = null!;
    private string _script = "";

    private static string Cli => Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.Cli", "bin", "Release", "net8.0", "immutable.dll");

    public async ValueTask InitializeAsync()
    {
        _workspace = await SampleWorkspace.CreateAsync();

        // The sample takes the newest prerelease; the test pins the version just packed.
        // Outside the app's repository, so its tree stays clean and its releases keep their commit ids.
        _script = Path.Combine(TestEnvironment.NewWorkDir("cake-script"), "build.cake");
        Directory.CreateDirectory(Path.GetDirectoryName(_script)!);
        var text = await File.ReadAllTextAsync(Path.Combine(TestEnvironment.RepoRoot, "samples", "cake", "build.cake"));
        Assert.Contains("&prerelease", text, StringComparison.Ordinal);
        await File.WriteAllTextAsync(_script, text.Replace("&prerelease", $"&version={TestEnvironment.PackageVersion}", StringComparison.Ordinal));
    }

    public async ValueTask DisposeAsync() =>
        await ProcessRunner.RunAsync("dotnet", [Cli, "local", "stop", "--state-dir", _state], timeout: TimeSpan.FromMinutes(1));

    [Fact]
    public async Task The_sample_script_bakes_rolls_out_rolls_back_and_reports_status()
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var first = await CakeAsync("Smoke");
        Assert.True(first.ExitCode == 0, first.Output);

        // ImmutableBake's release is the one its release.json records.
        var baked = Baked().Match(first.StandardOutput);
        Assert.True(baked.Success, first.Output);
        using (var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(baked.Groups["manifest"].Value, ct)))
        {
            Assert.Equal(manifest.RootElement.GetProperty("image").GetProperty("digest").GetString(), baked.Groups["digest"].Value);
            Assert.Equal(manifest.RootElement.GetProperty("releaseId").GetString(), baked.Groups["id"].Value);
        }

        var v1 = baked.Groups["id"].Value;
        Assert.DoesNotContain("dirty", v1, StringComparison.Ordinal);
        Assert.Equal(v1, RequestLoop.ReleaseOf(await http.GetStringAsync(Proxy, ct)));

        await _workspace.SetGreetingAsync("Hello from Cake");
        var second = await CakeAsync("Smoke");
        Assert.True(second.ExitCode == 0, second.Output);
        var v2 = Baked().Match(second.StandardOutput).Groups["id"].Value;
        Assert.NotEqual(v1, v2);
        Assert.Equal(v2, RequestLoop.ReleaseOf(await http.GetStringAsync(Proxy, ct)));

        var rollback = await CakeAsync("Rollback");
        Assert.True(rollback.ExitCode == 0, rollback.Output);
        Assert.Contains($"rolled back to {v1}: succeeded", rollback.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(v1, RequestLoop.ReleaseOf(await http.GetStringAsync(Proxy, ct)));

        var status = await CakeAsync("Status");
        Assert.True(status.ExitCode == 0, status.Output);
        Assert.Contains($"current release {v1}; in sync", status.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failing_alias_fails_the_script_with_its_IMB_code()
    {
        // Nothing was ever rolled out in this state directory: there is nothing to roll back to.
        var result = await CakeAsync("Rollback");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("IMB6007", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Output, StringComparison.Ordinal);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(Proxy, TestContext.Current.CancellationToken));
    }

    private Uri Proxy => new($"http://127.0.0.1:{_port}/");

    // `dotnet cake` from the repository root, where the tool manifest pins Cake.Tool; addins go to a folder of this test.
    // Cake colours its output (and the values in a log line) even when redirected; the checks read plain text.
    private async Task<ProcessResult> CakeAsync(string target)
    {
        var result = await ProcessRunner.RunAsync(
            "dotnet",
            ["cake", _script, $"--target={target}", $"--project={Path.Combine(_workspace.ProjectDir, "HelloImmutable.csproj")}", $"--state={_state}", $"--port={_port}", $"--nuget_source={TestEnvironment.PackagesDir}", $"--paths_addins={Path.Combine(Path.GetDirectoryName(_script)!, "addins")}"],
            TestEnvironment.RepoRoot,
            timeout: TimeSpan.FromMinutes(5));
        return result with { StandardOutput = Ansi().Replace(result.StandardOutput, ""), StandardError = Ansi().Replace(result.StandardError, "") };
    }

    [GeneratedRegex(@"\x1B\[[0-9;]*[A-Za-z]")]
    private static partial Regex Ansi();

    [GeneratedRegex(@"release (?<id>\S+) digest (?<digest>sha256:[0-9a-f]{64}) manifest (?<manifest>\S+)")]
    private static partial Regex Baked();
}
