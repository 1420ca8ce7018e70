using System.Diagnostics;
using System.Globalization;

namespace Immutable.Build.Versioning;

/// <summary>What <see cref="SourceRevisionReader"/> needs; the environment is passed in so tests and adapters control it.</summary>
/// <param name="Directory">The project directory; the repository is found above it.</param>
/// <param name="ExplicitRevision">ImmutableSourceRevision: a commit SHA that overrides everything else.</param>
/// <param name="Environment">Environment variables to consult (CI commit variables, SOURCE_DATE_EPOCH); null = the process environment.</param>
/// <param name="GitExecutable">The git program.</param>
public sealed record SourceRevisionOptions(
    string Directory,
    string? ExplicitRevision = null,
    IReadOnlyDictionary<string, string?>? Environment = null,
    string GitExecutable = "git");

/// <summary>
/// Reads the commit, dirty state, commit time and remote URL by running git itself (no libgit2), so
/// worktrees, detached HEAD and shallow clones behave exactly as git says. Without a repository it
/// falls back to CI commit variables, then fails with IMB1001.
/// </summary>
public static class SourceRevisionReader
{
    /// <summary>CI systems' commit variables, in the order they are consulted.</summary>
    public static readonly IReadOnlyList<string> CiCommitVariables =
    [
        "GITHUB_SHA", "BUILD_SOURCEVERSION", "CI_COMMIT_SHA", "BUILDKITE_COMMIT", "CIRCLE_SHA1",
        "TRAVIS_COMMIT", "BITBUCKET_COMMIT", "DRONE_COMMIT_SHA", "CODEBUILD_RESOLVED_SOURCE_VERSION", "GIT_COMMIT",
    ];

    /// <summary>Reads the revision; throws IMB1001 when there is none and IMB1002 for a malformed explicit one.</summary>
    public static SourceRevision Read(SourceRevisionOptions options) => Read(options, full: true);

    /// <summary>
    /// Throws what <see cref="Read(SourceRevisionOptions)"/> would throw, and nothing else: that there is a commit is
    /// checked, what else the release needs (dirty state, time, remote, branch) is not read. The check before the
    /// compile runs this; the release reads it all after the build, when the tree is as it will be published.
    /// </summary>
    public static void Verify(SourceRevisionOptions options) => Read(options, full: false);

    private static SourceRevision Read(SourceRevisionOptions options, bool full)
    {
        ArgumentNullException.ThrowIfNull(options);
        string? Env(string name) => (options.Environment is null ? System.Environment.GetEnvironmentVariable(name) : options.Environment.GetValueOrDefault(name)) is { Length: > 0 } v ? v.Trim() : null;

        SourceRevision? fromGit = TryReadGit(options, full, out var gitTop);
        if (options.ExplicitRevision is not { Length: > 0 } && Env("GIT_DIR") is null && NearestDotGit(options.Directory, Env("GIT_CEILING_DIRECTORIES")) is { } dotGit
            && !string.Equals(RealPath(Path.GetDirectoryName(dotGit)!), gitTop is null ? null : RealPath(gitTop), StringComparison.Ordinal))
        {
            // Git skips a .git it cannot read and walks on up: the commit it gives would be another repository's.
            throw new ImmutableBuildException(
                VersioningErrors.UnreadableRepository,
                $"{dotGit} is not a repository git can read (a corrupt HEAD, or a .git file pointing at a folder that is gone){(gitTop is null ? "" : $", so git answers for the enclosing repository {gitTop} instead")}. Repair it (for a corrupt HEAD: `git symbolic-ref HEAD refs/heads/main`; for a worktree or submodule: `git worktree repair` or `git submodule update --init`), remove that .git, or pass -p:ImmutableSourceRevision=<commit sha>.");
        }


        if (options.ExplicitRevision is { Length: > 0 } explicitRevision)
        {
            var commit = explicitRevision.Trim().ToLowerInvariant();
            if (!IsSha(commit))
            {
                throw new ImmutableBuildException("IMB1002", $"ImmutableSourceRevision '{explicitRevision}' is not a commit SHA; give 7 to 64 hex characters, e.g. the output of `git rev-parse HEAD`.");
            }

            return new SourceRevision(commit, false, fromGit?.CommitTime ?? SourceDateEpoch(Env) ?? DateTimeOffset.UnixEpoch, fromGit?.RepositoryUrl, RevisionOrigin.Explicit) { Branch = fromGit?.Branch };
        }

        if (fromGit is not null)
        {
            return SourceDateEpoch(Env) is { } epoch ? fromGit with { CommitTime = epoch } : fromGit;
        }

        foreach (var variable in CiCommitVariables)
        {
            if (Env(variable) is { } value && IsSha(value.ToLowerInvariant()))
            {
                return new SourceRevision(value.ToLowerInvariant(), false, SourceDateEpoch(Env) ?? DateTimeOffset.UnixEpoch, null, RevisionOrigin.CiVariable, variable);
            }
        }

        if (gitTop is not null)
        {
            throw new ImmutableBuildException(
                "IMB1001",
                $"Cannot tell which commit '{options.Directory}' is built from: it is in the git repository {gitTop}, whose HEAD names no commit (none yet, or one that is missing), and no CI commit variable ({string.Join(", ", CiCommitVariables.Take(3))}, ...) is set. Commit the project, or pass -p:ImmutableSourceRevision=<commit sha>.");
        }

        throw new ImmutableBuildException(
            "IMB1001",
            $"Cannot tell which commit '{options.Directory}' is built from: it is not in a git work tree with at least one commit (or git is not installed), and no CI commit variable ({string.Join(", ", CiCommitVariables.Take(3))}, ...) is set. Commit the project to git, or pass -p:ImmutableSourceRevision=<commit sha>.");
    }

    /// <summary>Removes user names, passwords and tokens from a remote URL.</summary>
    public static string? StripCredentials(string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            return null;
        }

        url = url.Trim();
        if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" or "ssh" or "git" && uri.UserInfo.Length > 0)
        {
            // ssh's "git@" is an account name, not a secret, but a token can hide there too; drop it either way.
            return new UriBuilder(uri) { UserName = "", Password = "" }.Uri.ToString();
        }

        // scp-like git@host:path has no password; keep it as written.
        return url;
    }

    /// <summary>
    /// One spelling per repository, so the source label (and with it the digest) does not depend on how the
    /// remote was cloned: scp-like <c>git@host:o/r.git</c> and <c>ssh://git@host/o/r</c> become
    /// <c>https://host/o/r</c>; credentials, a trailing <c>.git</c> and trailing slashes are dropped.
    /// </summary>
    public static string? NormalizeRepositoryUrl(string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            return null;
        }

        url = url.Trim();
        if (!url.Contains("://", StringComparison.Ordinal) && ScpLike.Match(url) is { Success: true } scp)
        {
            url = $"https://{scp.Groups["host"].Value}/{scp.Groups["path"].Value.TrimStart('/')}";
        }

        if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" or "ssh" or "git" or "git+ssh" && uri.Host.Length > 0)
        {
            // The ssh or git port says nothing about where the web page is; only an http(s) port is kept.
            var scheme = uri.Scheme == "http" ? "http" : "https";
            var port = uri.Scheme is "http" or "https" && !uri.IsDefaultPort ? ":" + uri.Port.ToString(CultureInfo.InvariantCulture) : "";
            return $"{scheme}://{uri.Host}{port}{TrimRepositoryPath(uri.AbsolutePath)}";
        }

        return TrimRepositoryPath(StripCredentials(url) ?? url);
    }

    private static readonly System.Text.RegularExpressions.Regex ScpLike = new(@"^(?:[^@/\s]+@)?(?<host>[^:/\s]+):(?<path>[^\s]+)$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    private static string TrimRepositoryPath(string path)
    {
        path = path.TrimEnd('/');
        if (path.EndsWith(".git", StringComparison.OrdinalIgnoreCase))
        {
            path = path[..^4].TrimEnd('/');
        }

        return path;
    }

    private static bool IsSha(string value) => value.Length is >= 7 and <= 64 && value.All(char.IsAsciiHexDigitLower);

    private static DateTimeOffset? SourceDateEpoch(Func<string, string?> env) =>
        env("SOURCE_DATE_EPOCH") is { } s && long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;

    /// <summary>
    /// The nearest .git (folder or file) at or above <paramref name="directory"/>, as the file system has it,
    /// searched as git searches: never up into a folder named by GIT_CEILING_DIRECTORIES, so a copy
    /// that sits inside another clone is not judged by that clone's .git.
    /// </summary>
    private static string? NearestDotGit(string directory, string? ceilingDirectories)
    {
        var ceilings = (ceilingDirectories ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(Path.IsPathRooted)
            .Select(c => Path.TrimEndingDirectorySeparator(Path.GetFullPath(c)))
            .ToHashSet(StringComparer.Ordinal);
        for (var current = Path.GetFullPath(directory); current is not null; current = Path.GetDirectoryName(current))
        {
            var candidate = Path.Combine(current, ".git");
            if (Path.Exists(candidate))
            {
                return candidate;
            }

            if (Path.GetDirectoryName(current) is { } parent && (ceilings.Contains(Path.TrimEndingDirectorySeparator(parent)) || ceilings.Contains(RealPath(parent))))
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>The path with every symbolic link along it resolved, as git prints its toplevel.</summary>
    private static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        var current = Path.GetPathRoot(full)!;
        foreach (var segment in full[current.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, segment);
            if (new DirectoryInfo(current).ResolveLinkTarget(returnFinalTarget: true) is { } target)
            {
                current = target.FullName;
            }
        }

        return current;
    }

    private static SourceRevision? TryReadGit(SourceRevisionOptions options, bool full, out string? top)
    {
        top = Git(options, "rev-parse", "--show-toplevel") is { Length: > 0 } t ? Path.GetFullPath(t) : null;
        if (!full)
        {
            var commit = Git(options, "rev-parse", "--verify", "-q", "HEAD^{commit}");
            return commit is not null && IsSha(commit) ? new SourceRevision(commit, false, DateTimeOffset.UnixEpoch, null, RevisionOrigin.Git) : null;
        }

        // Each git run costs a process; a publish reads this on every run. rev-list (plumbing: no user config such as
        // log.showSignature changes its output) gives the commit and its time; a missing commit fails it.
        var stamped = Git(options, "rev-list", "-1", "--timestamp", "HEAD^{commit}")?.Split(' ', 2, StringSplitOptions.TrimEntries);
        if (stamped is not [var seconds, var head] || !IsSha(head))
        {
            return null;
        }

        var commitTime = long.TryParse(seconds, NumberStyles.Integer, CultureInfo.InvariantCulture, out var unix) ? DateTimeOffset.FromUnixTimeSeconds(unix) : DateTimeOffset.UnixEpoch;

        // One status gives the dirty state and the branch (v2's header). Untracked files count (a build can pick them
        // up); ignored ones do not. Ahead/behind is never needed, and is slow on a big history.
        var status = Git(options, "status", "--porcelain=v2", "--branch", "--no-ahead-behind", "--untracked-files=normal", "--ignore-submodules=none")?.Split('\n') ?? [];
        var dirty = status.Any(line => line.Length > 0 && line[0] != '#');
        const string BranchHeader = "# branch.head ";
        var branch = status.FirstOrDefault(line => line.StartsWith(BranchHeader, StringComparison.Ordinal))?[BranchHeader.Length..].Trim();

        string? remote = null;
        var remotes = Git(options, "remote")?.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        var name = remotes.Contains("origin") ? "origin" : remotes.FirstOrDefault();
        if (name is not null)
        {
            remote = NormalizeRepositoryUrl(Git(options, "remote", "get-url", name));
        }

        // The branch is a moving name: a user tag equal to it is not a release id. Detached, there is none.
        return new SourceRevision(head, dirty, commitTime, remote, RevisionOrigin.Git) { Branch = string.IsNullOrWhiteSpace(branch) || branch == "(detached)" ? null : branch };
    }

    private static string? Git(SourceRevisionOptions options, params string[] arguments)
    {
        var info = new ProcessStartInfo(options.GitExecutable)
        {
            WorkingDirectory = options.Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        // A repository owned by another user (a CI checkout, a mounted volume) is still the source of this build.
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("safe.directory=*");
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["GIT_TERMINAL_PROMPT"] = "0";
        info.Environment["LC_ALL"] = "C";
        // The ceiling the .git search above honours must be the one git honours.
        if (options.Environment?.GetValueOrDefault("GIT_CEILING_DIRECTORIES") is { Length: > 0 } ceiling)
        {
            info.Environment["GIT_CEILING_DIRECTORIES"] = ceiling;
        }
        try
        {
            using var process = Process.Start(info);
            if (process is null)
            {
                return null;
            }

            process.StandardInput.Close();
            var errorTask = process.StandardError.ReadToEndAsync();
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            _ = errorTask.Result;
            return process.ExitCode == 0 ? output.Trim() : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // git is not installed: treated like "no repository"
        }
    }
}
