namespace Immutable.Build.Testing;

/// <summary>
/// A private copy of a sample in its own git repository, restoring Immutable.Build from the freshly
/// packed local feed into a packages folder of this test run only, so every run tests the current code.
/// </summary>
public sealed partial class SampleWorkspace
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
    /// <remarks>Keyed by the packed file's write time: a repack of the same version is never shadowed by an old extraction.</remarks>
    public static string PackagesFolder { get; } = Path.Combine(TestEnvironment.RunDir, "nuget-packages", PackStamp());

    private static string PackStamp()
    {
        var feed = new DirectoryInfo(TestEnvironment.PackagesDir);
        var nupkg = !feed.Exists ? null : feed.GetFiles("Immutable.Build.*.nupkg").OrderByDescending(f => f.LastWriteTimeUtc).FirstOrDefault();
        return nupkg is null ? "none" : nupkg.LastWriteTimeUtc.Ticks.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Copies samples/<paramref name="sample"/> into a new workspace.</summary>
    public static async Task<SampleWorkspace> CreateAsync(string sample = "HelloImmutable", bool git = true)
    {
        var root = TestEnvironment.NewWorkDir(sample.ToLowerInvariant());
        var projectDir = Path.Combine(root, sample);
        // the sample and the projects it references (HelloImmutable.Telemetry, ...)
        foreach (var dir in Directory.EnumerateDirectories(Path.Combine(TestEnvironment.RepoRoot, "samples"), sample + "*"))
        {
            CopyDirectory(dir, Path.Combine(root, Path.GetFileName(dir)));
        }

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

    /// <summary>Sets what the sample's GET / says (Greeting.Text) and commits it; returns the new commit's SHA.</summary>
    public async Task<string> SetGreetingAsync(string greeting)
    {
        var file = Path.Combine(ProjectDir, "Greeting.cs");
        var text = await File.ReadAllTextAsync(file);
        if (!GreetingText().IsMatch(text))
        {
            throw new InvalidOperationException($"{file} has no Text = \"...\" to change");
        }

        await File.WriteAllTextAsync(file, GreetingText().Replace(text, $"Text = \"{greeting}\""));
        return await CommitAllAsync(greeting);
    }

    /// <summary>Runs <c>dotnet publish</c> of the sample with the given extra arguments.</summary>
    public Task<ProcessResult> PublishAsync(IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? timeout = null) =>
        ProcessRunner.RunAsync("dotnet", ["publish", ProjectDir, "-c", "Release", "-nologo", .. arguments], Root, environment, timeout ?? TimeSpan.FromMinutes(5));

    /// <summary>
    /// Publishes and returns the process result plus the requested properties and items, read from a
    /// result file so that the build's own messages stay on the console output.
    /// </summary>
    public async Task<PublishOutcome> PublishWithResultsAsync(IEnumerable<string> arguments, IEnumerable<string> properties, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var resultFile = Path.Combine(Root, $"publish-result-{Guid.NewGuid().ToString("N")[..8]}.json");
        var names = properties.ToList();
        var args = arguments.ToList();
        var verbosity = args.Any(a => a.StartsWith("-v:", StringComparison.Ordinal)) ? [] : new[] { "-v:n" };
        var result = await PublishAsync([.. args, .. names.Select(n => n.StartsWith('@') ? $"-getItem:{n[1..]}" : $"-getProperty:{n}"), $"-getResultOutputFile:{resultFile}", .. verbosity], environment);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var items = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        if (File.Exists(resultFile))
        {
            var text = await File.ReadAllTextAsync(resultFile);
            File.Delete(resultFile);
            if (names.Count == 1 && !text.TrimStart().StartsWith('{'))
            {
                return new PublishOutcome(result, new Dictionary<string, string> { [names[0]] = text.Trim() }, items);
            }

            using var doc = System.Text.Json.JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object && doc.RootElement.TryGetProperty("Properties", out var props))
            {
                foreach (var p in props.EnumerateObject())
                {
                    values[p.Name] = p.Value.GetString() ?? "";
                }
            }
            else if (doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.String && names.Count == 1)
            {
                values[names[0]] = doc.RootElement.GetString() ?? "";
            }

            if (doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object && doc.RootElement.TryGetProperty("Items", out var its))
            {
                foreach (var group in its.EnumerateObject())
                {
                    items[group.Name] = group.Value.EnumerateArray().Select(i => i.GetProperty("Identity").GetString()!).ToList();
                }
            }
        }

        return new PublishOutcome(result, values, items);
    }

    [System.Text.RegularExpressions.GeneratedRegex("Text = \"[^\"]*\"")]
    private static partial System.Text.RegularExpressions.Regex GreetingText();

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

/// <summary>A publish's process result and the properties and items it reported.</summary>
public sealed record PublishOutcome(ProcessResult Process, IReadOnlyDictionary<string, string> Properties, IReadOnlyDictionary<string, List<string>> Items)
{
    /// <summary>A reported property, or a failure naming the build output.</summary>
    public string this[string name] => Properties.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"{name} was not reported. Output:\n{Process.Output}");
}
