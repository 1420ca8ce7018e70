namespace Immutable.Build.State;

/// <summary>
/// Who wrote a state record and from where: user, machine, process and, on CI, the run's URL. Never a secret: no
/// token, no environment value beyond these names.
/// </summary>
/// <param name="User">The operating-system user.</param>
/// <param name="Host">The machine name.</param>
/// <param name="Pid">The process id.</param>
/// <param name="CiRun">The CI run's URL (GitHub Actions, Azure Pipelines, GitLab CI), when the environment names one.</param>
public sealed record RecordOrigin(string User, string Host, int Pid, string? CiRun)
{
    /// <summary>This process, with the CI run from <paramref name="getEnvironmentVariable"/>.</summary>
    public static RecordOrigin Current(Func<string, string?>? getEnvironmentVariable = null)
    {
        var env = getEnvironmentVariable ?? Environment.GetEnvironmentVariable;
        return new RecordOrigin(Environment.UserName, Environment.MachineName, Environment.ProcessId, CiRunUrl(env));
    }

    /// <summary>user@host (pid N)[, CI run URL].</summary>
    public string Describe() => $"{User}@{Host} (pid {Pid}){(CiRun is null ? "" : $", CI run {CiRun}")}";

    /// <summary>The run URL the common CI systems let a job compute from its environment; null elsewhere.</summary>
    public static string? CiRunUrl(Func<string, string?> env)
    {
        string? Get(string name) => env(name) is { Length: > 0 } v ? v.Trim() : null;
        if (Get("GITHUB_RUN_ID") is { } run && Get("GITHUB_REPOSITORY") is { } repo)
        {
            return $"{(Get("GITHUB_SERVER_URL") ?? "https://github.com").TrimEnd('/')}/{repo}/actions/runs/{run}{(Get("GITHUB_RUN_ATTEMPT") is { } a ? $"/attempts/{a}" : "")}";
        }

        if (Get("CI_JOB_URL") is { } job)
        {
            return job;
        }

        if (Get("SYSTEM_COLLECTIONURI") is { } collection && Get("SYSTEM_TEAMPROJECT") is { } project && Get("BUILD_BUILDID") is { } build)
        {
            return $"{collection.TrimEnd('/')}/{Uri.EscapeDataString(project)}/_build/results?buildId={build}";
        }

        return Get("BUILD_URL");
    }
}
