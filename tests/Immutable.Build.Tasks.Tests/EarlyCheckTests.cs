namespace Immutable.Build.Tasks.Tests;

/// <summary>What needs no build is checked before the compile: the commit, and the spelling of Immutable* properties.</summary>
public sealed class EarlyCheckTests
{
    [Fact(Timeout = 360_000)]
    public async Task A_misspelt_property_from_the_command_line_or_a_project_file_warns_with_the_known_name()
    {
        var workspace = await SampleWorkspace.CreateAsync();
        var project = Path.Combine(workspace.ProjectDir, "HelloImmutable.csproj");
        var text = await File.ReadAllTextAsync(project, TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(project, text.Replace("<ContainerRepository>", "<ImmutableTargt>local</ImmutableTargt>\n    <ContainerRepository>", StringComparison.Ordinal), TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(Path.Combine(workspace.Root, "Directory.Build.props"), "<Project>\n  <PropertyGroup>\n    <ImmutableHealtPath>/health</ImmutableHealtPath>\n  </PropertyGroup>\n</Project>\n", TestContext.Current.CancellationToken);
        await workspace.CommitAllAsync("misspelt properties");

        // An environment variable under the prefix is how tools isolate a run: never reported.
        var publish = await workspace.PublishAsync(
            ["-p:ImmutableStratgy=canary"],
            new Dictionary<string, string?> { ["ImmutableEnvironmentOnlyName"] = "x" },
            TimeSpan.FromMinutes(5));

        Assert.True(publish.ExitCode == 0, publish.Output);
        Assert.Contains("warning IMB1106: ImmutableStratgy (set with -p:) is not a property Immutable.Build knows, so it is ignored; did you mean ImmutableStrategy?", publish.Output, StringComparison.Ordinal);
        Assert.Contains("warning IMB1106: ImmutableTargt (set in HelloImmutable.csproj) is not a property Immutable.Build knows, so it is ignored; did you mean ImmutableTarget?", publish.Output, StringComparison.Ordinal);
        Assert.Contains("warning IMB1106: ImmutableHealtPath (set in Directory.Build.props) is not a property Immutable.Build knows, so it is ignored; did you mean ImmutableHealthPath?", publish.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("ImmutableEnvironmentOnlyName", publish.Output, StringComparison.Ordinal);
    }

    [Fact(Timeout = 360_000)]
    public async Task A_folder_without_git_fails_with_IMB1001_before_anything_is_compiled()
    {
        var workspace = await SampleWorkspace.CreateAsync(git: false);
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        // No CI commit variable either, as on a developer's machine.
        var environment = Versioning.SourceRevisionReader.CiCommitVariables.ToDictionary(v => v, _ => (string?)null);
        // The test run's folder can sit inside a clone (CI's is): git must not find that repository above the copy.
        environment["GIT_CEILING_DIRECTORIES"] = Path.GetDirectoryName(workspace.Root);

        var publish = await workspace.PublishAsync([], environment, TimeSpan.FromMinutes(5));

        Assert.NotEqual(0, publish.ExitCode);
        Assert.Contains("error IMB1001", publish.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at Immutable.Build", publish.Output, StringComparison.Ordinal);
        // Neither the app nor its project reference was compiled.
        Assert.DoesNotContain("HelloImmutable.Telemetry.dll", publish.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("HelloImmutable.dll", publish.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(workspace.ProjectDir, "obj", "Release", "net10.0", "HelloImmutable.dll")));
        Assert.False(File.Exists(Path.Combine(workspace.Root, "HelloImmutable.Telemetry", "obj", "Release", "net10.0", "HelloImmutable.Telemetry.dll")));
    }
}
