using Immutable.Build.Targets.Local;
using System.Diagnostics;
using Immutable.Build.Targets;

namespace Immutable.Build.LocalHost;

/// <summary>One instance process and what the proxy needs to know about it.</summary>
internal sealed class Instance
{
    private int _inFlight;
    private string? _prefix;

    public required string Id { get; init; }

    public required string ScopeKey { get; init; }

    public required string App { get; init; }

    public required string Environment { get; init; }

    public required string Group { get; init; }

    public required string ReleaseId { get; init; }

    public required string ImageDigest { get; init; }

    public string? Commit { get; init; }

    public required int Port { get; init; }

    public required string LogFile { get; init; }

    public required string ReleaseDirectory { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>Null for an instance restored from host-state.json (a previous host's, reaped at start).</summary>
    public Process? Process { get; set; }

    public int Pid { get; set; }

    public long ProcessStart { get; set; }

    /// <summary>Written under the supervisor's lock; read without it by the proxy.</summary>
    public volatile string Status = LocalInstanceStatus.Starting;

    public int? ExitCode { get; set; }

    /// <summary>The forwarding prefix, http://127.0.0.1:port/; made once, the proxy reads it on every request.</summary>
    public string Prefix => _prefix ??= $"http://127.0.0.1:{Port}/";

    public int InFlight => Volatile.Read(ref _inFlight);

    public bool IsRoutable => Status is LocalInstanceStatus.Starting or LocalInstanceStatus.Running;

    public void Enter() => Interlocked.Increment(ref _inFlight);

    public void Leave() => Interlocked.Decrement(ref _inFlight);

    public LocalInstance ToRecord() => new(
        Id, ScopeKey, App, Environment, Group, ReleaseId, ImageDigest, Commit, Pid, Port, Status, ExitCode, StartedAt, LogFile, ReleaseDirectory, ProcessStart);

    public static Instance FromRecord(LocalInstance r) => new()
    {
        Id = r.Id,
        ScopeKey = r.Scope,
        App = r.App,
        Environment = r.Environment,
        Group = r.Group,
        ReleaseId = r.ReleaseId,
        ImageDigest = r.ImageDigest,
        Commit = r.Commit,
        Port = r.Port,
        LogFile = r.LogFile,
        ReleaseDirectory = r.ReleaseDirectory,
        StartedAt = r.StartedAt,
        Pid = r.Pid,
        ProcessStart = r.ProcessStart,
        Status = r.Status,
        ExitCode = r.ExitCode,
    };
}
