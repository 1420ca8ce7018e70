using Immutable.Build.Images;
using Immutable.Build.Versioning;

namespace Immutable.Build.Core.Tests.Versioning;

/// <summary>Real git repositories in temporary folders: clean, dirty, detached, shallow, worktree, none.</summary>
public sealed class SourceRevisionReaderTests
{
    private static readonly Dictionary<string, string?> NoCi = new();

    [Fact]
    public async Task A_clean_repository_gives_commit_time_and_stripped_remote()
    {
        var repo = await GitRepo.CreateAsync();
        await repo.GitAsync("remote", "add", "origin", "https://builder:s3cret-token@example.invalid/team/app.git");
        var revision = SourceRevisionReader.Read(new SourceRevisionOptions(repo.Path, Environment: NoCi));
        Assert.Equal(repo.Head, revision.Commit);
        Assert.Equal(repo.Head[..12], revision.ShortCommit);
        Assert.False(revision.IsDirty);
        Assert.Equal(GitRepo.CommitTime, revision.CommitTime);
        Assert.Equal("https://example.invalid/team/app", revision.RepositoryUrl);
        Assert.DoesNotContain("s3cret", revision.ToString(), StringComparison.Ordinal);
        Assert.Equal(RevisionOrigin.Git, revision.Origin);
    }

    [Theory]
    [InlineData("git@github.com:o/r.git", "https://github.com/o/r")]
    [InlineData("git@github.com:o/r", "https://github.com/o/r")]
    [InlineData("github.com:o/r.git/", "https://github.com/o/r")]
    [InlineData("ssh://git@github.com/o/r.git", "https://github.com/o/r")]
    [InlineData("ssh://git@github.com:2222/o/r", "https://github.com/o/r")]
    [InlineData("git+ssh://git@github.com/o/r", "https://github.com/o/r")]
    [InlineData("https://user:token@github.com/o/r.git", "https://github.com/o/r")]
    [InlineData("https://GitHub.com/o/r/", "https://github.com/o/r")]
    [InlineData("https://github.com/o/r", "https://github.com/o/r")]
    [InlineData("https://git.example.invalid:8443/team/app.git", "https://git.example.invalid:8443/team/app")]
    [InlineData("http://127.0.0.1:3000/team/app.git", "http://127.0.0.1:3000/team/app")]
    public void Remote_spellings_of_one_repository_give_one_url_without_credentials(string remote, string expected) =>
        Assert.Equal(expected, SourceRevisionReader.NormalizeRepositoryUrl(remote));

    [Fact]
    public async Task An_scp_like_remote_and_its_https_spelling_give_the_same_revision()
    {
        var ssh = await GitRepo.CreateAsync();
        await ssh.GitAsync("remote", "add", "origin", "git@example.invalid:team/app.git");
        var https = await GitRepo.CreateAsync();
        await https.GitAsync("remote", "add", "origin", "https://example.invalid/team/app");

        var a = SourceRevisionReader.Read(new SourceRevisionOptions(ssh.Path, Environment: NoCi));
        var b = SourceRevisionReader.Read(new SourceRevisionOptions(https.Path, Environment: NoCi));

        Assert.Equal("https://example.invalid/team/app", a.RepositoryUrl);
        Assert.Equal(b.RepositoryUrl, a.RepositoryUrl);
    }

    [Fact]
    public async Task Tracked_changes_and_untracked_files_are_dirty_but_ignored_files_are_not()
    {
        var repo = await GitRepo.CreateAsync();
        await File.WriteAllTextAsync(System.IO.Path.Combine(repo.Path, "ignored.log"), "x");
        await File.WriteAllTextAsync(System.IO.Path.Combine(repo.Path, ".gitignore"), "*.log\n");
        await repo.CommitAsync("ignore logs");
        await File.WriteAllTextAsync(System.IO.Path.Combine(repo.Path, "more.log"), "y");
        Assert.False(SourceRevisionReader.Read(new SourceRevisionOptions(repo.Path, Environment: NoCi)).IsDirty);

        await File.WriteAllTextAsync(System.IO.Path.Combine(repo.Path, "new.txt"), "untracked");
        Assert.True(SourceRevisionReader.Read(new SourceRevisionOptions(repo.Path, Environment: NoCi)).IsDirty);
        File.Delete(System.IO.Path.Combine(repo.Path, "new.txt"));

        await File.AppendAllTextAsync(System.IO.Path.Combine(repo.Path, "file.txt"), "changed");
        Assert.True(SourceRevisionReader.Read(new SourceRevisionOptions(repo.Path, Environment: NoCi)).IsDirty);
    }

    [Fact]
    public async Task Detached_head_shallow_clone_and_worktree_all_read_their_commit()
    {
        var repo = await GitRepo.CreateAsync();
        var first = repo.Head;
        await File.WriteAllTextAsync(System.IO.Path.Combine(repo.Path, "second.txt"), "2");
        var second = await repo.CommitAsync("second");

        await repo.GitAsync("checkout", "-q", "--detach", first);
        Assert.Equal(first, SourceRevisionReader.Read(new SourceRevisionOptions(repo.Path, Environment: NoCi)).Commit);
        await repo.GitAsync("checkout", "-q", "main");

        var shallow = TestEnvironment.NewWorkDir("shallow");
        await GitRepo.RunGitAsync(TestEnvironment.RunDir, "clone", "-q", "--depth", "1", "file://" + repo.Path, shallow);
        Assert.Equal(second, SourceRevisionReader.Read(new SourceRevisionOptions(shallow, Environment: NoCi)).Commit);

        var worktree = System.IO.Path.Combine(TestEnvironment.NewWorkDir("worktree"), "wt");
        await repo.GitAsync("worktree", "add", "-q", "--detach", worktree, first);
        var fromWorktree = SourceRevisionReader.Read(new SourceRevisionOptions(worktree, Environment: NoCi));
        Assert.Equal(first, fromWorktree.Commit);
        Assert.False(fromWorktree.IsDirty);
    }

    [Fact]
    public void Without_git_a_ci_variable_is_used_and_without_one_IMB1001_says_what_to_do()
    {
        // outside the repository that holds the test run
        var empty = Directory.CreateTempSubdirectory("imb-nogit-").FullName;
        var sha = new string('a', 40);
        var fromCi = SourceRevisionReader.Read(new SourceRevisionOptions(empty, Environment: new Dictionary<string, string?> { ["CI_COMMIT_SHA"] = sha, ["SOURCE_DATE_EPOCH"] = "1700000000" }));
        Assert.Equal(sha, fromCi.Commit);
        Assert.Equal(RevisionOrigin.CiVariable, fromCi.Origin);
        Assert.Equal("CI_COMMIT_SHA", fromCi.OriginDetail);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), fromCi.CommitTime);

        var error = Assert.Throws<ImmutableBuildException>(() => SourceRevisionReader.Read(new SourceRevisionOptions(empty, Environment: NoCi)));
        Directory.Delete(empty);
        Assert.Equal("IMB1001", error.Code);
        Assert.Contains("ImmutableSourceRevision", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_explicit_revision_wins_and_a_malformed_one_is_IMB1002()
    {
        var repo = await GitRepo.CreateAsync();
        var explicitSha = new string('b', 40);
        Assert.Equal(explicitSha, SourceRevisionReader.Read(new SourceRevisionOptions(repo.Path, explicitSha, NoCi)).Commit);
        Assert.Equal("IMB1002", Assert.Throws<ImmutableBuildException>(() => SourceRevisionReader.Read(new SourceRevisionOptions(repo.Path, "not-a-sha", NoCi))).Code);
    }

    [Fact]
    public async Task SOURCE_DATE_EPOCH_overrides_the_commit_time()
    {
        var repo = await GitRepo.CreateAsync();
        var revision = SourceRevisionReader.Read(new SourceRevisionOptions(repo.Path, Environment: new Dictionary<string, string?> { ["SOURCE_DATE_EPOCH"] = "1600000000" }));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1600000000), revision.CommitTime);
    }

    [Fact]
    public void Tags_follow_the_policy_and_a_dirty_tree_gets_a_content_suffix()
    {
        var sha = "0123456789abcdef0123456789abcdef01234567";
        var digest = Digest.Of("image"u8);
        var clean = new SourceRevision(sha, false, DateTimeOffset.UnixEpoch, null, RevisionOrigin.Git);
        Assert.Equal("0123456789ab", ReleaseTags.Primary(clean, TagPolicy.ShortSha, "1.2.3", digest));
        Assert.Equal(sha, ReleaseTags.Primary(clean, TagPolicy.FullSha, "1.2.3", digest));
        Assert.Equal("1.2.3-beta.1-build.5-0123456789ab", ReleaseTags.Primary(clean, TagPolicy.VersionSha, "1.2.3-beta.1+build.5", digest));
        Assert.Equal($"0123456789ab-dirty-{digest.Hex[..8]}", ReleaseTags.Primary(clean with { IsDirty = true }, TagPolicy.ShortSha, null, digest));
        Assert.Equal(TagPolicy.VersionSha, ReleaseTags.ParsePolicy("Version"));
        Assert.Equal("IMB1003", Assert.Throws<ImmutableBuildException>(() => ReleaseTags.ParsePolicy("weekly")).Code);
        Assert.Equal("IMB1004", Assert.Throws<ImmutableBuildException>(() => ReleaseTags.Validate(["ok", "-bad"], "ContainerImageTags")).Code);
    }
}

/// <summary>A throwaway git repository with a fixed author and commit time.</summary>
internal sealed class GitRepo
{
    public static readonly DateTimeOffset CommitTime = DateTimeOffset.FromUnixTimeSeconds(1767225600);

    private GitRepo(string path) => Path = path;

    public string Path { get; }

    public string Head { get; private set; } = "";

    public static async Task<GitRepo> CreateAsync()
    {
        var repo = new GitRepo(TestEnvironment.NewWorkDir("git"));
        await repo.GitAsync("init", "-q", "-b", "main");
        await File.WriteAllTextAsync(System.IO.Path.Combine(repo.Path, "file.txt"), "content\n");
        await repo.CommitAsync("initial");
        return repo;
    }

    public async Task<string> CommitAsync(string message)
    {
        await GitAsync("add", "-A");
        await GitAsync("commit", "-q", "-m", message);
        Head = (await GitAsync("rev-parse", "HEAD")).Trim();
        return Head;
    }

    public Task<string> GitAsync(params string[] arguments) => RunGitAsync(Path, arguments);

    public static async Task<string> RunGitAsync(string directory, params string[] arguments)
    {
        var date = CommitTime.ToUnixTimeSeconds() + " +0000";
        var result = await ProcessRunner.RunAsync(
            "git",
            ["-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false", "-c", "protocol.file.allow=always", .. arguments],
            directory,
            new Dictionary<string, string?> { ["GIT_AUTHOR_DATE"] = date, ["GIT_COMMITTER_DATE"] = date },
            TimeSpan.FromMinutes(1));
        return result.EnsureSuccess("git " + string.Join(' ', arguments)).StandardOutput;
    }
}
