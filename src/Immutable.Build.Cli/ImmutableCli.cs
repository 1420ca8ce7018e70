using Immutable.Build.Targets.Local;
using System.CommandLine;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Immutable.Build;
using Immutable.Build.Deployments;
using Immutable.Build.Docker;
using Immutable.Build.Releases;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;

namespace Immutable.Build.Cli;

/// <summary>
/// The `immutable` command. Each verb maps its options onto <see cref="DeploymentSettings"/> and makes
/// one <see cref="Deployer"/> call; errors print their IMB code and message, never a stack trace.
/// </summary>
internal static class ImmutableCli
{
    private static readonly Option<string?> App = new("--app") { Description = "The app (release.json's app). Default: the app of ./release.json or of --release." };
    private static readonly Option<string?> Environment = new("--environment", "-e") { Description = "The environment. Default: default." };
    private static readonly Option<string?> Target = new("--target") { Description = "The deployment target: local (default) or docker." };
    private static readonly Option<string?> StateDir = new("--state-dir") { Description = "The state directory. Default: $IMMUTABLE_STATE_DIR, else ~/.local/state/immutable-build." };
    private static readonly Option<string?> LocalPort = new("--local-port") { Description = "The local target's proxy port. Default: 5080." };
    private static readonly Option<string?> DockerHosts = new("--docker-hosts") { Description = "Docker target: engine endpoints separated by ';' (unix:///var/run/docker.sock, tcp://host:2376). Default: $DOCKER_HOST, else the local socket." };
    private static readonly Option<string?> DockerTls = new("--docker-tls-cert-path") { Description = "Docker target: a folder with ca.pem, cert.pem and key.pem for tcp endpoints. Default: $DOCKER_CERT_PATH when $DOCKER_TLS_VERIFY is set." };
    private static readonly Option<string?> DockerProxyPort = new("--docker-proxy-port") { Description = "Docker target: the app's stable port on each host. Default: 8080." };
    private static readonly Option<string?> DockerHostBatch = new("--docker-host-batch") { Description = "Docker target: hosts launched at once: 1 (host by host, default), N, or all." };
    private static readonly Option<string?> DockerRestartPolicy = new("--docker-restart-policy") { Description = "Docker target: no, on-failure[:N], unless-stopped (default) or always." };
    private static readonly Option<string?> DockerMemory = new("--docker-memory") { Description = "Docker target: memory limit per container, e.g. 512m." };
    private static readonly Option<string?> DockerCpus = new("--docker-cpus") { Description = "Docker target: CPU limit per container, e.g. 1.5." };
    private static readonly Option<string?> DockerStopGrace = new("--docker-stop-grace") { Description = "Docker target: between SIGTERM and SIGKILL when a container stops. Default: 10s." };
    private static readonly Option<string> Output = new("--output", "-o") { Description = "text or json.", DefaultValueFactory = _ => "text" };

    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("immutable: inspect, roll out and roll back Immutable.Build releases.");
        root.Subcommands.Add(Version());
        root.Subcommands.Add(Status());
        root.Subcommands.Add(History());
        root.Subcommands.Add(Deploy());
        root.Subcommands.Add(Rollback());
        root.Subcommands.Add(Prune());
        root.Subcommands.Add(Local());
        return await root.Parse(args).InvokeAsync();
    }

    private static Command Version()
    {
        var command = new Command("version", "Print the version of this tool.");
        command.SetAction(_ =>
        {
            Console.WriteLine(typeof(ImmutableCli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown");
            return 0;
        });
        return command;
    }

    private static Command Status()
    {
        var repair = new Option<bool>("--repair") { Description = "Converge an interrupted rollout (resume or roll back) before reporting." };
        var command = Scoped(new Command("status", "What runs, per group: release, health, traffic weight; drift from the desired release."), Output, repair);
        command.SetAction((parse, ct) => Guarded(async () =>
        {
            var status = await Deployer.StatusAsync(Settings(parse), parse.GetValue(repair), Log(parse), ct);
            if (Json(parse))
            {
                Console.WriteLine(JsonSerializer.Serialize(status, CliJson.Default.RolloutStatus));
                return status.InSync ? 0 : 3;
            }

            Console.WriteLine($"{status.Scope.App} ({status.Scope.Environment}) on {status.Target}: current release {status.Current?.ReleaseId ?? "none"}{(status.Current is { } c ? " " + c.ImageDigest : "")}");
            foreach (var group in status.Groups)
            {
                Console.WriteLine($"  group {group.Group,-24} release {group.ReleaseId,-28} weight {group.Weight,3}%  {group.Running}/{group.Instances.Count} running{(group.IsCurrent ? "  (current)" : "")}");
                foreach (var instance in group.Instances)
                {
                    Console.WriteLine($"    {instance.Id,-14} {instance.Status,-10} {instance.Address}");
                }
            }

            if (status.Interrupted is { } interrupted)
            {
                Console.WriteLine($"  interrupted rollout: {interrupted} (run `immutable status --repair` or any deploy to converge)");
            }

            foreach (var drift in status.Drift)
            {
                Console.WriteLine($"  DRIFT {drift.InstanceId} (group {drift.Group}): {drift.Reason}");
            }

            Console.WriteLine(status.InSync ? "  in sync" : $"  {status.Drift.Count} drifted instance(s)");
            return status.InSync ? 0 : 3;
        }));
        return command;
    }

    private static Command History()
    {
        var command = Scoped(new Command("history", "The release ledger: every rollout and its outcome."), Output);
        command.SetAction((parse, ct) => Guarded(async () =>
        {
            var history = await Deployer.HistoryAsync(Settings(parse), ct);
            if (Json(parse))
            {
                Console.WriteLine(JsonSerializer.Serialize(history, CliJson.Default.IReadOnlyListLedgerEntry));
                return 0;
            }

            foreach (var entry in history)
            {
                Console.WriteLine($"{entry.Seq,4}  {entry.Type,-8} {entry.Trigger,-9} {entry.Release?.ReleaseId,-28} {entry.Strategy,-10} {entry.Outcome,-12} {entry.Reason}");
            }

            return 0;
        }));
        return command;
    }

    private static Command Deploy()
    {
        var release = new Argument<string>("release") { Description = "A release.json path, or the id or digest of a release in the ledger." };
        var strategy = new Option<string?>("--strategy") { Description = "bluegreen (default), canary or rolling." };
        var replicas = new Option<string?>("--replicas") { Description = "Instances to run. Default: 1." };
        var canarySteps = new Option<string?>("--canary-steps") { Description = "Traffic percentages, e.g. 10;50;100." };
        var canaryPause = new Option<string?>("--canary-pause") { Description = "Pause after each canary step, e.g. 30s." };
        var analysisWindow = new Option<string?>("--analysis-window") { Description = "How long the metric gate observes after each traffic step, e.g. 30s." };
        var prometheusUrl = new Option<string?>("--prometheus-url") { Description = "A Prometheus server for the metric gate." };
        var prometheusQuery = new Option<string?>("--prometheus-query") { Description = "PromQL for the metric gate; {release} and {group} are replaced." };
        var prometheusCondition = new Option<string?>("--prometheus-condition") { Description = "The metric gate's success condition, e.g. '< 0.01'." };
        var command = Scoped(new Command("deploy", "Roll a release out by replacing instances, with health gates and automatic rollback."), strategy, replicas, canarySteps, canaryPause, analysisWindow, prometheusUrl, prometheusQuery, prometheusCondition);
        command.Arguments.Add(release);
        command.SetAction((parse, ct) => Guarded(async () =>
        {
            var value = parse.GetValue(release)!;
            var settings = Settings(parse, value) with
            {
                Rollout = new RolloutSettings { Strategy = parse.GetValue(strategy), Replicas = parse.GetValue(replicas), CanarySteps = parse.GetValue(canarySteps), CanaryPause = parse.GetValue(canaryPause), AnalysisWindow = parse.GetValue(analysisWindow) },
                PrometheusUrl = parse.GetValue(prometheusUrl),
                PrometheusQuery = parse.GetValue(prometheusQuery),
                PrometheusCondition = parse.GetValue(prometheusCondition),
            };
            var reference = File.Exists(value) ? Deployer.ReleaseFrom(ReleaseManifestFile.Read(value), value) : await FromLedgerAsync(settings, value, ct);
            var result = await Deployer.DeployAsync(settings, reference, Log(parse), ct);
            return Finish(result);
        }));
        return command;
    }

    private static Command Rollback()
    {
        var to = new Option<string?>("--to") { Description = "The release id to return to. Default: the previous successful release." };
        var command = Scoped(new Command("rollback", "Redeploy an earlier release by digest (pulled again, whatever is left on the host)."), to);
        command.SetAction((parse, ct) => Guarded(async () => Finish(await Deployer.RollbackAsync(Settings(parse), parse.GetValue(to), Log(parse), ct))));
        return command;
    }

    private static Command Prune()
    {
        var retain = new Option<string?>("--retain") { Description = "Previous releases to keep. Default: 2." };
        var registry = new Option<bool>("--registry") { Description = "Also delete the pruned releases' images from their registry." };
        var command = Scoped(new Command("prune", "Remove releases beyond the current and the retained ones from the target."), retain, registry);
        command.SetAction((parse, ct) => Guarded(async () =>
        {
            var result = await Deployer.PruneAsync(Settings(parse) with { Retain = parse.GetValue(retain), PruneRegistry = parse.GetValue(registry) ? "true" : null }, Log(parse), ct);
            Console.WriteLine($"kept {string.Join(", ", result.Kept.Select(r => r.ReleaseId))}; removed {(result.Removed.Count == 0 ? "nothing" : string.Join(", ", result.Removed.Select(r => r.ReleaseId)))}");
            return 0;
        }));
        return command;
    }

    private static Command Local()
    {
        var local = new Command("local", "The local target's host process.");
        var stop = new Command("stop", "Stop the local host and every instance it runs.");
        stop.Options.Add(StateDir);
        stop.SetAction((parse, ct) => Guarded(async () =>
        {
            var state = Deployer.StateDirectory(new DeploymentSettings { App = "-", StateDirectory = parse.GetValue(StateDir) });
            Console.WriteLine(await LocalHostControl.StopAsync(state, cancellationToken: ct) ? $"stopped the local host of {state}" : $"no local host runs for {state}");
            return 0;
        }));
        local.Subcommands.Add(stop);
        return local;
    }

    private static Command Scoped(Command command, params Option[] extra)
    {
        foreach (var option in new Option[] { App, Environment, Target, StateDir, LocalPort, DockerHosts, DockerTls, DockerProxyPort, DockerHostBatch, DockerRestartPolicy, DockerMemory, DockerCpus, DockerStopGrace }.Concat(extra))
        {
            command.Options.Add(option);
        }

        return command;
    }

    private static DeploymentSettings Settings(ParseResult parse, string? releaseHint = null)
    {
        var app = parse.GetValue(App);
        if (string.IsNullOrWhiteSpace(app))
        {
            var manifest = releaseHint is not null && File.Exists(releaseHint) ? releaseHint : File.Exists("release.json") ? "release.json" : null;
            app = manifest is not null
                ? ReleaseManifestFile.Read(manifest).App
                : throw new ImmutableBuildException("IMB6106", "Which app? Pass --app <name> (release.json's app), or run where release.json is.");
        }

        return new DeploymentSettings
        {
            App = app,
            Environment = parse.GetValue(Environment),
            Target = parse.GetValue(Target) ?? "local",
            StateDirectory = parse.GetValue(StateDir),
            LocalPort = parse.GetValue(LocalPort),
            Docker = new DockerDeploymentSettings
            {
                Hosts = parse.GetValue(DockerHosts),
                TlsCertPath = parse.GetValue(DockerTls),
                ProxyPort = parse.GetValue(DockerProxyPort),
                HostBatch = parse.GetValue(DockerHostBatch),
                RestartPolicy = parse.GetValue(DockerRestartPolicy),
                Memory = parse.GetValue(DockerMemory),
                Cpus = parse.GetValue(DockerCpus),
                StopGrace = parse.GetValue(DockerStopGrace),
            },
            TargetProviders = [new DockerTargetProvider()],
        };
    }

    private static async Task<ReleaseRef> FromLedgerAsync(DeploymentSettings settings, string idOrDigest, CancellationToken ct)
    {
        var history = await Deployer.HistoryAsync(settings, ct);
        return ReleaseLedger.FindRelease(history, idOrDigest)?.Release
            ?? throw new ImmutableBuildException("IMB6107", $"No release '{idOrDigest}' in the ledger of {settings.App}; give the path of its release.json, or an id or digest from `immutable history`.");
    }

    private static bool Json(ParseResult parse) => string.Equals(parse.GetValue(Output), "json", StringComparison.OrdinalIgnoreCase);

    private static ReleaseLog Log(ParseResult parse) => Json(parse)
        ? new ReleaseLog(Console.Error.WriteLine, _ => { }, (code, w) => Console.Error.WriteLine($"warning {code}: {w}"))
        : new ReleaseLog(Console.WriteLine, _ => { }, (code, w) => Console.Error.WriteLine($"warning {code}: {w}"));

    private static int Finish(RolloutResult result)
    {
        Console.WriteLine($"{result.Trigger} {result.Release.ReleaseId}: {result.Outcome}{(result.Reason is null ? "" : " (" + result.Reason + ")")} in {result.Duration.TotalSeconds:F1} s");
        if (!result.Succeeded)
        {
            result.ThrowIfNotSucceeded();
        }

        return 0;
    }

    private static async Task<int> Guarded(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (ImmutableBuildException e)
        {
            await Console.Error.WriteLineAsync($"error {e.Code}: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("error IMB0002: cancelled; run the same command again to converge.");
            return 130;
        }
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true)]
[JsonSerializable(typeof(RolloutStatus))]
[JsonSerializable(typeof(IReadOnlyList<LedgerEntry>))]
internal sealed partial class CliJson : JsonSerializerContext;
