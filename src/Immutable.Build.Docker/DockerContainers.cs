using Docker.DotNet.Models;
using Immutable.Build.Targets;

namespace Immutable.Build.Docker;

/// <summary>Finding a host's containers by their labels, and reading what they say about themselves (state, last output).</summary>
internal sealed class DockerContainers(DockerCalls calls)
{
    /// <summary>Every container of the app on the host, whatever its environment or role.</summary>
    public async Task<IList<ContainerListResponse>> OfAppAsync(string app, CancellationToken ct) =>
        await calls.Call("list containers", () => calls.Client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{DockerLabels.App}={app}"] = true } },
        }, ct));

    /// <summary>Every container on the host, the target's or not.</summary>
    public async Task<IList<ContainerListResponse>> AllAsync(CancellationToken ct) =>
        await calls.Call("list containers", () => calls.Client.Containers.ListContainersAsync(new ContainersListParameters { All = true }, ct));

    /// <summary>The container's last lines of output, for an error message; empty when the host cannot tell.</summary>
    public async Task<string> TailLogsAsync(string container, CancellationToken ct)
    {
        try
        {
            using var logs = await calls.Client.Containers.GetContainerLogsAsync(container, new ContainerLogsParameters { ShowStdout = true, ShowStderr = true, Tail = "8" }, ct);
            var (stdout, stderr) = await logs.ReadOutputToEndAsync(ct);
            return string.Join(" | ", (stdout + stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(8));
        }
        catch (Exception e) when (DockerCalls.IsHostFailure(e))
        {
            return "";
        }
    }

    public static string Status(ContainerListResponse c)
    {
        var detail = c.Status ?? "";
        return c.State switch
        {
            "running" when detail.Contains("(health: starting)", StringComparison.Ordinal) => "starting",
            "running" when detail.Contains("(unhealthy)", StringComparison.Ordinal) => "unhealthy",
            "running" => "running",
            "created" => "starting",
            "restarting" => "restarting",
            "exited" or "dead" => "exited",
            var other => other ?? "unknown",
        };
    }

    public static bool IsProxyOf(ContainerListResponse c, DeploymentScope scope) => Label(c, DockerLabels.Role) == DockerLabels.ProxyRole && Label(c, DockerLabels.Scope) == scope.Key;

    public static bool IsInstanceOf(ContainerListResponse c, DeploymentScope scope) => Label(c, DockerLabels.Role) == DockerLabels.InstanceRole && Label(c, DockerLabels.Scope) == scope.Key;

    public static string? Label(ContainerListResponse c, string key) => c.Labels is { } labels && labels.TryGetValue(key, out var value) ? value : null;

    /// <summary>The short id Docker itself shows.</summary>
    public static string Short(string id) => id.Length > 12 ? id[..12] : id;
}
