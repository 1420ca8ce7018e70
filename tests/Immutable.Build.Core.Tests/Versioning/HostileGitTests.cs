using System.Security.Cryptography;
using Immutable.Build.Versioning;

namespace Immutable.Build.Core.Tests.Versioning;

/// <summary>
/// Git edge cases, one row each, with real repositories: the broken ones are an IMB code saying what to fix, the odd
/// but sound ones (detached, worktree, shallow, submodule) name the right commit. No row changes a work-tree file or
/// leaves a process naming its folder.
/// </summary>
public sealed class HostileGitTests
{
    private static readonly Dictionary<string, string?> NoCi = new();

    /// <summary>What a row proves; Arrange returns the folder to read and the commit it must give (null: Code instead).</summary>
    private sealed record Case(string Proves, Func<Task<(string Directory, string? Commit)>> Arrange, string? Code = null, string? Fix = null, string? ExplicitRevision = null, string? CeilingBelowRepository = null);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["no-commits"] = new("a repository without a commit is IMB1001 saying it has none yet", async () =>
        {
            var dir = TestEnvironment.NewWorkDir("git-empty");
            await GitRepo.RunGitAsync(dir, "init", "-q", "-b", "main");
            return (dir, null);
        }, "IMB1001", "Commit the project"),
        ["no-git-at-all"] = new("a folder in no repository, with no CI variable, is IMB1001", () =>
            Task.FromResult<(string, string?)>((Directory.CreateTempSubdirectory("imb-hostile-nogit-").FullName, null)), "IMB1001", "ImmutableSourceRevision"),
        ["corrupt-head-in-enclosing-repo"] = new("a corrupt HEAD inside another repository is IMB1033, not the enclosing repository's commit", async () =>
        {
            var outer = await GitRepo.CreateAsync();
            var inner = Path.Combine(outer.Path, "app");
            await GitRepo.RunGitAsync(Directory.CreateDirectory(inner).FullName, "init", "-q", "-b", "main");
            await File.WriteAllTextAsync(Path.Combine(inner, ".git", "HEAD"), "garbage\n");
            return (inner, null);
        }, "IMB1033", "git symbolic-ref HEAD"),
        ["no-git-below-a-ceiling"] = new("a folder inside another clone but below GIT_CEILING_DIRECTORIES is IMB1001, as git sees it, not IMB1033 for the clone's .git", async () =>
        {
            var outer = await GitRepo.CreateAsync();
            var copy = Directory.CreateDirectory(Path.Combine(outer.Path, "runs", "copy", "app")).FullName;
            return (copy, null);
        }, "IMB1001", "ImmutableSourceRevision", CeilingBelowRepository: "runs"),
        ["corrupt-head-alone"] = new("a corrupt HEAD with no repository above is IMB1033", async () =>
        {
            var dir = Directory.CreateTempSubdirectory("imb-hostile-head-").FullName;
            await GitRepo.RunGitAsync(dir, "init", "-q", "-b", "main");
            await File.WriteAllTextAsync(Path.Combine(dir, ".git", "HEAD"), "\0\0\0");
            return (dir, null);
        }, "IMB1033", "git symbolic-ref HEAD"),
        ["dangling-gitdir-file"] = new("a .git file pointing at a gone folder (a moved worktree) is IMB1033", async () =>
        {
            var dir = Directory.CreateTempSubdirectory("imb-hostile-gitfile-").FullName;
            await File.WriteAllTextAsync(Path.Combine(dir, ".git"), "gitdir: /nonexistent/worktrees/gone\n");
            return (dir, null);
        }, "IMB1033", "git worktree repair"),
        ["head-to-missing-object"] = new("a branch naming an object the repository lacks is IMB1001, not a made-up commit", async () =>
        {
            var repo = await GitRepo.CreateAsync();
            await File.WriteAllTextAsync(Path.Combine(repo.Path, ".git", "refs", "heads", "main"), new string('d', 40) + "\n");
            return (repo.Path, null);
        }, "IMB1001", "Commit the project"),
        ["corrupt-repo-with-explicit-revision"] = new("ImmutableSourceRevision, the fix IMB1033 offers, wins over a corrupt .git", async () =>
        {
            var dir = Directory.CreateTempSubdirectory("imb-hostile-explicit-").FullName;
            await File.WriteAllTextAsync(Path.Combine(dir, ".git"), "gitdir: /nonexistent\n");
            return (dir, new string('e', 40));
        }, ExplicitRevision: new string('e', 40)),
        ["detached-head"] = new("a detached HEAD names the checked-out commit, not the branch's", async () =>
        {
            var repo = await GitRepo.CreateAsync();
            var first = repo.Head;
            await File.WriteAllTextAsync(Path.Combine(repo.Path, "second.txt"), "2");
            await repo.CommitAsync("second");
            await repo.GitAsync("checkout", "-q", "--detach", first);
            return (repo.Path, first);
        }),
        ["worktree"] = new("a linked worktree (its .git a file) names its own commit", async () =>
        {
            var repo = await GitRepo.CreateAsync();
            var first = repo.Head;
            await File.WriteAllTextAsync(Path.Combine(repo.Path, "second.txt"), "2");
            await repo.CommitAsync("second");
            var worktree = Path.Combine(TestEnvironment.NewWorkDir("git-wt"), "wt");
            await repo.GitAsync("worktree", "add", "-q", "--detach", worktree, first);
            return (worktree, first);
        }),
        ["shallow-clone"] = new("a depth-1 clone names its one commit", async () =>
        {
            var repo = await GitRepo.CreateAsync();
            var shallow = Path.Combine(TestEnvironment.NewWorkDir("git-shallow"), "clone");
            await GitRepo.RunGitAsync(TestEnvironment.RunDir, "clone", "-q", "--depth", "1", "file://" + repo.Path, shallow);
            return (shallow, repo.Head);
        }),
        ["submodule"] = new("a project inside a submodule names the submodule's commit, not the superproject's", async () =>
        {
            var library = await GitRepo.CreateAsync();
            var super = await GitRepo.CreateAsync();
            await super.GitAsync("submodule", "add", "-q", "file://" + library.Path, "lib");
            await super.CommitAsync("add submodule");
            return (Path.Combine(super.Path, "lib"), library.Head);
        }),
    };

    public static TheoryData<string> Names => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public async Task A_git_edge_case_names_the_right_commit_or_says_what_to_fix(string name)
    {
        var row = Cases[name];
        var (directory, commit) = await row.Arrange();
        var before = Snapshot(directory);

        var environment = row.CeilingBelowRepository is null
            ? NoCi
            : new Dictionary<string, string?> { ["GIT_CEILING_DIRECTORIES"] = directory[..(directory.IndexOf("/" + row.CeilingBelowRepository + "/", StringComparison.Ordinal) + row.CeilingBelowRepository.Length + 1)] };
        var read = Record.Exception(() => SourceRevisionReader.Read(new SourceRevisionOptions(directory, row.ExplicitRevision, environment)));

        // The check before the compile reads less, but must fail (or pass) exactly as the release's full read does.
        var verify = Record.Exception(() => SourceRevisionReader.Verify(new SourceRevisionOptions(directory, row.ExplicitRevision, environment)));
        Assert.Equal((read as ImmutableBuildException)?.Code ?? read?.GetType().Name, (verify as ImmutableBuildException)?.Code ?? verify?.GetType().Name);

        Assert.Equal(before, Snapshot(directory));
        Assert.DoesNotContain(Directory.EnumerateDirectories("/proc"), p => Named(p, directory));
        if (row.Code is null)
        {
            Assert.Null(read);
            Assert.Equal(commit, SourceRevisionReader.Read(new SourceRevisionOptions(directory, row.ExplicitRevision, environment)).Commit);
            return;
        }

        var e = Assert.IsType<ImmutableBuildException>(read);
        Assert.Equal(row.Code, e.Code);
        Assert.Contains(row.Fix!, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", e.Message, StringComparison.Ordinal);
    }

    /// <summary>The work tree's files (not git's own, which git status may refresh): path, size, content hash.</summary>
    private static List<string> Snapshot(string root) =>
        new DirectoryInfo(root).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Where(f => !f.FullName.Contains("/.git/", StringComparison.Ordinal))
            .Select(f => $"{f.FullName} {f.Length} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f.FullName)))}")
            .Order(StringComparer.Ordinal)
            .ToList();

    private static bool Named(string proc, string directory)
    {
        try
        {
            return File.ReadAllText(Path.Combine(proc, "cmdline")).Contains(directory, StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
