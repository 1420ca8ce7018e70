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
}
