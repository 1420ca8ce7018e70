using System.Runtime.CompilerServices;
using System.Text.Json.Serialization;

// The local host speaks this protocol with the target; one definition keeps both sides in step.
[assembly: InternalsVisibleTo("Immutable.Build.LocalHost")]

namespace Immutable.Build.Targets.Local;

/// <summary>
/// <c>host.json</c> in the state directory (mode 0600: it holds the control token). Written by the host once
/// its control listener is bound; removed when it shuts down.
/// </summary>
internal sealed record LocalHostFile(
    [property: JsonPropertyName("pid")] int Pid,
    [property: JsonPropertyName("controlPort")] int ControlPort,
    [property: JsonPropertyName("token")] string Token,
    [property: JsonPropertyName("startedAt")] DateTimeOffset StartedAt,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("processStart")] long ProcessStart);

/// <summary>GET /v1/host.</summary>
internal sealed record LocalHostStatus(
    [property: JsonPropertyName("pid")] int Pid,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("startedAt")] DateTimeOffset StartedAt,
    [property: JsonPropertyName("stateDirectory")] string StateDirectory);

/// <summary>PUT /v1/scopes/{key}: make sure the scope's proxy listens. Port 0 keeps the scope's port, or picks a free one the first time.</summary>
internal sealed record LocalScopeRequest(
    [property: JsonPropertyName("app")] string App,
    [property: JsonPropertyName("environment")] string Environment,
    [property: JsonPropertyName("proxyPort")] int ProxyPort);

/// <summary>A scope as the host sees it.</summary>
internal sealed record LocalScopeState(
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("app")] string App,
    [property: JsonPropertyName("environment")] string Environment,
    [property: JsonPropertyName("proxyPort")] int ProxyPort,
    [property: JsonPropertyName("proxyUrl")] string? ProxyUrl,
    [property: JsonPropertyName("weights")] IReadOnlyDictionary<string, int> Weights,
    [property: JsonPropertyName("instances")] IReadOnlyList<LocalInstance> Instances);

/// <summary>POST /v1/scopes/{key}/launch: start <see cref="Replicas"/> processes of one command.</summary>
internal sealed record LocalLaunchCommand(
    [property: JsonPropertyName("group")] string Group,
    [property: JsonPropertyName("releaseId")] string ReleaseId,
    [property: JsonPropertyName("imageDigest")] string ImageDigest,
    [property: JsonPropertyName("commit")] string? Commit,
    [property: JsonPropertyName("replicas")] int Replicas,
    [property: JsonPropertyName("fileName")] string FileName,
    [property: JsonPropertyName("arguments")] IReadOnlyList<string> Arguments,
    [property: JsonPropertyName("workingDirectory")] string WorkingDirectory,
    [property: JsonPropertyName("environment")] IReadOnlyDictionary<string, string> Environment,
    [property: JsonPropertyName("releaseDirectory")] string ReleaseDirectory);

/// <summary>PUT /v1/scopes/{key}/weights.</summary>
internal sealed record LocalWeightsRequest(
    [property: JsonPropertyName("weights")] IReadOnlyDictionary<string, int> Weights);

/// <summary>POST /v1/scopes/{key}/groups/{group}/stop, and POST /v1/shutdown (drain ignored there).</summary>
internal sealed record LocalStopRequest(
    [property: JsonPropertyName("drainMilliseconds")] int DrainMilliseconds,
    [property: JsonPropertyName("graceMilliseconds")] int GraceMilliseconds);

/// <summary>A list of instances (launch, list, stop and prune answers).</summary>
internal sealed record LocalInstanceList(
    [property: JsonPropertyName("instances")] IReadOnlyList<LocalInstance> Instances);

/// <summary>An error answer: the IMB code and the message.</summary>
internal sealed record LocalError(
    [property: JsonPropertyName("code")] string Code,
    [property: JsonPropertyName("message")] string Message);

/// <summary>
/// One instance process: what it runs and where. <see cref="ProcessStart"/> is the kernel's start time of
/// the pid (clock ticks after boot), so a restarted host never kills a process that merely reused the pid.
/// </summary>
internal sealed record LocalInstance(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("scope")] string Scope,
    [property: JsonPropertyName("app")] string App,
    [property: JsonPropertyName("environment")] string Environment,
    [property: JsonPropertyName("group")] string Group,
    [property: JsonPropertyName("releaseId")] string ReleaseId,
    [property: JsonPropertyName("imageDigest")] string ImageDigest,
    [property: JsonPropertyName("commit")] string? Commit,
    [property: JsonPropertyName("pid")] int Pid,
    [property: JsonPropertyName("port")] int Port,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("exitCode")] int? ExitCode,
    [property: JsonPropertyName("startedAt")] DateTimeOffset StartedAt,
    [property: JsonPropertyName("logFile")] string LogFile,
    [property: JsonPropertyName("releaseDirectory")] string ReleaseDirectory,
    [property: JsonPropertyName("processStart")] long ProcessStart)
{
    /// <summary>The instance's base URL.</summary>
    [JsonIgnore]
    public Uri Address => new($"http://127.0.0.1:{Port}/");
}

/// <summary>What a host keeps across restarts (host-state.json): scopes with their ports and weights, and instances to reap.</summary>
internal sealed record LocalHostState(
    [property: JsonPropertyName("scopes")] IReadOnlyList<LocalScopeRecord> Scopes,
    [property: JsonPropertyName("instances")] IReadOnlyList<LocalInstance> Instances);

/// <summary>A scope in host-state.json.</summary>
internal sealed record LocalScopeRecord(
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("app")] string App,
    [property: JsonPropertyName("environment")] string Environment,
    [property: JsonPropertyName("proxyPort")] int ProxyPort,
    [property: JsonPropertyName("weights")] IReadOnlyDictionary<string, int> Weights);

/// <summary>Instance statuses reported by the host.</summary>
internal static class LocalInstanceStatus
{
    /// <summary>The process runs; its port does not accept connections yet.</summary>
    public const string Starting = "starting";

    /// <summary>The process runs and its port accepts connections.</summary>
    public const string Running = "running";

    /// <summary>The group is being drained and stopped.</summary>
    public const string Stopping = "stopping";

    /// <summary>The process has ended.</summary>
    public const string Exited = "exited";
}

/// <summary>Source-generated JSON of the protocol.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true)]
[JsonSerializable(typeof(LocalHostFile))]
[JsonSerializable(typeof(LocalHostStatus))]
[JsonSerializable(typeof(LocalScopeRequest))]
[JsonSerializable(typeof(LocalScopeState))]
[JsonSerializable(typeof(LocalLaunchCommand))]
[JsonSerializable(typeof(LocalWeightsRequest))]
[JsonSerializable(typeof(LocalStopRequest))]
[JsonSerializable(typeof(LocalInstanceList))]
[JsonSerializable(typeof(LocalError))]
[JsonSerializable(typeof(LocalHostState))]
internal sealed partial class LocalJsonContext : JsonSerializerContext;
