namespace Immutable.Build.Testing;

/// <summary>
/// A private copy of a sample in its own git repository, restoring Immutable.Build from the freshly
/// packed local feed into a packages folder of this test run only, so every run tests the current code.
/// </summary>
public sealed class SampleWorkspace
{
    private SampleWorkspace(string root, string projectDir)
    {
        Root = root;
        ProjectDir = projectDir;
    }

    /// <summary>The workspace root (a git repository).</summary>
    public string Root { get; }

    /// <summary>The sample's project folder.</summary>
    public string ProjectDir { get; }

    /// <summary>The packages folder shared by the samples of this test run.</summary>
    public static string PackagesFolder => Path.Combine(TestEnvironment.RunDir, "nuget-packages");

    /// <summary>Copies samples/<paramref name="sample"/> into a new workspace.</summary>
    public static async Task<SampleWorkspace> CreateAsync(string sample = "HelloImmutable", bool git = true)
    {
        var root = TestEnvironment.NewWorkDir(sample.ToLowerInvariant());
        var projectDir = Path.Combine(root, sample);
        CopyDirectory(Path.Combine(TestEnvironment.RepoRoot, "samples", sample), projectDir);

        // The workspace stands alone: nothing inherited from the repository that holds the run folder.
        await File.WriteAllTextAsync(Path.Combine(root, "Directory.Build.props"), "<Project />\n");
        await File.WriteAllTextAsync(Path.Combine(root, "Directory.Build.targets"), "<Project />\n");
        await File.WriteAllTextAsync(Path.Combine(root, "Directory.Packages.props"), "<Project />\n");
        await File.WriteAllTextAsync(Path.Combine(root, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config><add key="globalPackagesFolder" value="{PackagesFolder}" /></config>
              <packageSources><add key="immutable-local" value="{TestEnvironment.PackagesDir}" /></packageSources>
              <packageSourceMapping>
                <packageSource key="immutable-local"><package pattern="Immutable.Build" /><package pattern="Immutable.Build.*" /></packageSource>
                <packageSource key="nuget.org"><package pattern="*" /></packageSource>
              </packageSourceMapping>
            </configuration>
            """);
        await File.WriteAllTextAsync(Path.Combine(root, ".gitignore"), "bin/\nobj/\n");
        var workspace = new SampleWorkspace(root, projectDir);
        if (git)
        {
            await workspace.GitAsync("init", "-q", "-b", "main");
            await workspace.CommitAllAsync("initial");
        }

        return workspace;
    }

    /// <summary>Runs git in the workspace with a fixed identity.</summary>
    public async Task<string> GitAsync(params string[] arguments)
    {
        var result = await ProcessRunner.RunAsync("git", ["-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false", .. arguments], Root, timeout: TimeSpan.FromMinutes(1));
        return result.EnsureSuccess("git " + string.Join(' ', arguments)).StandardOutput.Trim();
    }

    /// <summary>Commits everything; returns the new commit's SHA.</summary>
    public async Task<string> CommitAllAsync(string message)
    {
        await GitAsync("add", "-A");
        await GitAsync("commit", "-q", "--allow-empty", "-m", message);
        return await GitAsync("rev-parse", "HEAD");
    }

    /// <summary>Runs <c>dotnet publish</c> of the sample with the given extra arguments.</summary>
    public Task<ProcessResult> PublishAsync(IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? timeout = null) =>
        ProcessRunner.RunAsync("dotnet", ["publish", ProjectDir, "-c", "Release", "-nologo", .. arguments], Root, environment, timeout ?? TimeSpan.FromMinutes(5));

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var dir in Directory.EnumerateDirectories(from))
        {
            var name = Path.GetFileName(dir);
            if (name is "bin" or "obj")
            {
                continue;
            }

            CopyDirectory(dir, Path.Combine(to, name));
        }
    }
}
