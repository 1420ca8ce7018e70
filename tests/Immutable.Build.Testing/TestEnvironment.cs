namespace Immutable.Build.Testing;

/// <summary>Where the repository, the freshly packed packages and this run's scratch space are.</summary>
public static class TestEnvironment
{
    /// <summary>True under CI: infrastructure that cannot start fails its tests instead of skipping them.</summary>
    public static bool IsCI => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The repository root (IMMUTABLE_REPO_ROOT, else found above the test assembly).</summary>
    public static string RepoRoot { get; } = Environment.GetEnvironmentVariable("IMMUTABLE_REPO_ROOT") is { Length: > 0 } r ? r : FindRepoRoot();

    /// <summary>The local feed that `./build.sh pack` writes.</summary>
    public static string PackagesDir => Environment.GetEnvironmentVariable("IMMUTABLE_PACKAGES_DIR") is { Length: > 0 } p ? p : Path.Combine(RepoRoot, "artifacts", "packages");

    /// <summary>The version of the packed packages, from the run or from artifacts/packages/version.txt.</summary>
    public static string PackageVersion
    {
        get
        {
            if (Environment.GetEnvironmentVariable("IMMUTABLE_PACKAGE_VERSION") is { Length: > 0 } v)
            {
                return v;
            }

            var file = Path.Combine(PackagesDir, "version.txt");
            return File.Exists(file)
                ? File.ReadAllText(file).Trim()
                : throw new InvalidOperationException($"No packed Immutable.Build in {PackagesDir}: run ./build.sh pack first.");
        }
    }

    /// <summary>Scratch space for this test run; every test gets its own folder below it.</summary>
    public static string RunDir { get; } = Environment.GetEnvironmentVariable("IMMUTABLE_TEST_RUN_DIR") is { Length: > 0 } d ? d : Path.Combine(RepoRoot, "artifacts", "test-run");

    /// <summary>Where the infrastructure scripts keep pid files, addresses and logs.</summary>
    public static string InfraDir => Environment.GetEnvironmentVariable("IMMUTABLE_INFRA_DIR") is { Length: > 0 } i ? i : "/tmp/immutable-build-infra";

    /// <summary>The folder of the test infrastructure scripts.</summary>
    public static string InfraScripts => Path.Combine(RepoRoot, "tests", "infra");

    /// <summary>A new empty folder for one test.</summary>
    public static string NewWorkDir(string name)
    {
        var dir = Path.Combine(RunDir, $"{name}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Immutable.Build.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Cannot find the repository root; set IMMUTABLE_REPO_ROOT.");
    }
}
