namespace Immutable.Build.Cli.Tests;

public sealed class CliTests
{
    private static string CliDll => Path.Combine(AppContext.BaseDirectory, "immutable.dll");

    [Fact]
    public async Task Version_prints_the_informational_version()
    {
        var result = await ProcessRunner.RunAsync("dotnet", [CliDll, "version"], timeout: TimeSpan.FromMinutes(1));
        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+", result.StandardOutput.Trim());
    }

    [Fact]
    public async Task An_unknown_command_fails_with_usage()
    {
        var result = await ProcessRunner.RunAsync("dotnet", [CliDll, "no-such-command"], timeout: TimeSpan.FromMinutes(1));
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("no-such-command", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("deploy")]
    [InlineData("rollback")]
    [InlineData("status")]
    public async Task Deploy_rollback_and_status_take_the_gate_options_and_a_bad_identity_check_is_IMB6003(string command)
    {
        var help = await ProcessRunner.RunAsync("dotnet", [CliDll, command, "--help"], timeout: TimeSpan.FromMinutes(1));
        Assert.Equal(0, help.ExitCode);
        foreach (var option in new[] { "--health-path", "--health-timeout", "--check-release-identity", "--prometheus-url", "--prometheus-query", "--prometheus-condition" })
        {
            Assert.Contains(option, help.StandardOutput, StringComparison.Ordinal);
        }

        string[] release = command == "deploy" ? ["release.json"] : [];
        var bad = await ProcessRunner.RunAsync("dotnet", [CliDll, command, .. release, "--check-release-identity", "yes", "--state-dir", TestEnvironment.NewWorkDir("cli-gates")], timeout: TimeSpan.FromMinutes(1));
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("error IMB6003: ImmutableCheckReleaseIdentity='yes'", bad.Output, StringComparison.Ordinal);
    }
}
