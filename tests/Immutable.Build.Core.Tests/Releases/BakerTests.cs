using Immutable.Build.Deployments;

namespace Immutable.Build.Core.Tests.Releases;

/// <summary>
/// How a bake turns the publish's outcome into a release or an IMB error. The publish here is a stand-in script in
/// place of dotnet, so each outcome is exact; the real publish is run by the Cake script tests.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // the stand-in publish is a bash script
public sealed class BakerTests
{
    private readonly string _dir = TestEnvironment.NewWorkDir("baker");

    [Fact]
    public async Task The_first_IMB_error_of_a_failed_publish_is_the_bake_error()
    {
        var lines = new List<string>();
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => Baker.BakeAsync(Request("""
            echo "  restore done"
            echo "/src/App.csproj : warning NU1603: a warning [/src/App.csproj]"
            echo "/pkg/Immutable.Build.targets(58,5): error IMB1006: ContainerImageFormat 'zip' is not known. [/src/App.csproj]"
            echo "/pkg/Immutable.Build.targets(58,5): error IMB1006: ContainerImageFormat 'zip' is not known. [/src/App.csproj]" >&2
            exit 1
            """), lines.Add, TestContext.Current.CancellationToken));
        Assert.Equal("IMB1006", e.Code);
        Assert.Equal("ContainerImageFormat 'zip' is not known.", e.Message);
        Assert.Contains("  restore done", lines);
    }

    [Fact]
    public async Task A_publish_that_fails_without_an_IMB_error_is_IMB4003_with_its_first_error()
    {
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => Baker.BakeAsync(Request("""
            echo "/src/Program.cs(3,1): error CS1002: ; expected [/src/App.csproj]"
            exit 1
            """), _ => { }, TestContext.Current.CancellationToken));
        Assert.Equal("IMB4003", e.Code);
        Assert.Contains("CS1002: ; expected", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_publish_that_records_no_release_is_IMB4004()
    {
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => Baker.BakeAsync(Request("""
            for a in "$@"; do case "$a" in -getResultOutputFile:*) echo '{"Properties":{"ImmutableReleaseManifest":""}}' > "${a#-getResultOutputFile:}";; esac; done
            exit 0
            """), _ => { }, TestContext.Current.CancellationToken));
        Assert.Equal("IMB4004", e.Code);
        Assert.Contains("reference the Immutable.Build package", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Properties_are_passed_escaped_and_logged_without_their_values()
    {
        var lines = new List<string>();
        var args = Path.Combine(_dir, "args.txt");
        var request = Request($$"""
            printf '%s\n' "$@" > "{{args}}"
            exit 1
            """) with
        {
            Properties = new Dictionary<string, string> { ["ImmutableDockerHosts"] = "unix:///a.sock;tcp://b:2376", ["RegistryToken"] = "s3cret,100%" },
        };
        await Assert.ThrowsAsync<ImmutableBuildException>(() => Baker.BakeAsync(request, lines.Add, TestContext.Current.CancellationToken));
        var passed = await File.ReadAllLinesAsync(args, TestContext.Current.CancellationToken);
        Assert.Contains("-p:ImmutableDockerHosts=unix:///a.sock%3Btcp://b:2376", passed);
        Assert.Contains("-p:RegistryToken=s3cret%2C100%25", passed);
        Assert.Contains("-getProperty:ImmutableImageDigest", passed);
        Assert.DoesNotContain(lines, l => l.Contains("s3cret", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/no/such/App.csproj", null, "IMB4002")]
    [InlineData(null, "bad name", "IMB4005")]
    public async Task A_missing_project_is_IMB4002_and_a_bad_property_name_IMB4005(string? project, string? property, string code)
    {
        var request = Request("exit 0") with { Project = project ?? Path.Combine(_dir, "App.csproj") };
        if (property is not null)
        {
            request = request with { Properties = new Dictionary<string, string> { [property] = "x" } };
        }

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => Baker.BakeAsync(request, _ => { }, TestContext.Current.CancellationToken));
        Assert.Equal(code, e.Code);
    }

    private BakeRequest Request(string script)
    {
        var project = Path.Combine(_dir, "App.csproj");
        File.WriteAllText(project, "<Project />");
        var dotnet = Path.Combine(_dir, $"dotnet-{Guid.NewGuid():N}.sh");
        File.WriteAllText(dotnet, "#!/bin/bash\n" + script + "\n");
        File.SetUnixFileMode(dotnet, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return new BakeRequest { Project = project, DotnetPath = dotnet };
    }
}
