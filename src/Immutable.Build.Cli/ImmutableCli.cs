using Immutable.Build.Targets.Local;
using System.CommandLine;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Immutable.Build;
using Immutable.Build.Deployments;
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
    private static readonly Option<string?> App = new("--app") { Description = "The app (release.json's app). Default: the app of the release given or of ./release.json, else the one app the state remembers." };
    private static readonly Option<string?> Environment = new("--environment", "-e") { Description = "The environment. Default: default." };
    private static readonly Option<string?> Target = new("--target") { Description = $"The deployment target: {string.Join(", ", TargetProviders.All().Select(p => p.Name))}. Default: the target of the app's last rollout, else local; its settings not given here are those of that rollout." };
    private static readonly Option<string?> StateDir = new("--state-dir") { Description = "The state directory. Default: $IMMUTABLE_STATE_DIR, else ~/.local/state/immutable-build." };
    private static readonly Option<string?> StateUrl = new("--state-url") { Description = "Where the deploy lock, journal and ledger live for every runner: s3://bucket/prefix or docker:// (the first Docker host) (ImmutableStateUrl). Default: $IMMUTABLE_STATE_URL, else the state directory." };

    // One option per setting each target declares: a target shipped beside Core brings its options with it.
    private static readonly IReadOnlyList<(TargetSetting Setting, Option<string?> Option)> TargetOptions =
        TargetProviders.All().SelectMany(p => p.Settings).DistinctBy(s => s.Option, StringComparer.Ordinal)
            .Select(s => (s, new Option<string?>(s.Option) { Description = s.Description })).ToList();

    // The gates: not given, the scope's last successful rollout's apply, so a rollback probes what the deploy probed.
    private static readonly Option<string?> HealthPath = new("--health-path") { Description = "The HTTP gate's path (ImmutableHealthPath). Default: the last successful rollout's, else /healthz." };
    private static readonly Option<string?> HealthTimeout = new("--health-timeout") { Description = "How long an instance may take to become healthy, e.g. 90s (ImmutableHealthTimeout). Default: the last successful rollout's, else 60s." };
    private static readonly Option<string?> CheckReleaseIdentity = new("--check-release-identity") { Description = "auto (check when the app answers /version), true (require it) or false (ImmutableCheckReleaseIdentity). Default: the last successful rollout's, else auto." };
    private static readonly Option<string?> PrometheusUrl = new("--prometheus-url") { Description = "A Prometheus server for the metric gate; none: no metric gate. Default: the last successful rollout's." };
    private static readonly Option<string?> PrometheusQuery = new("--prometheus-query") { Description = "PromQL for the metric gate; {release} and {group} are replaced." };
    private static readonly Option<string?> PrometheusCondition = new("--prometheus-condition") { Description = "The metric gate's success condition, e.g. '< 0.01'." };
    private static readonly Option[] GateOptions = [HealthPath, HealthTimeout, CheckReleaseIdentity, PrometheusUrl, PrometheusQuery, PrometheusCondition];

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
        root.Subcommands.Add(BakeAmi());
        root.Subcommands.Add(Lock());
        root.Subcommands.Add(StateCommand());
        root.Subcommands.Add(Local());
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // System.CommandLine's own report has no code; a script or a log search finds this one by it.
            var command = parse.CommandResult.Command == root ? "" : parse.CommandResult.Command.Name + " ";
            await Console.Error.WriteLineAsync($"error {CliErrors.BadCommandLine}: {string.Join(" ", parse.Errors.Select(e => e.Message))} Run `immutable {command}--help` for the options it takes.");
            return 1;
        }

        return await parse.InvokeAsync();
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
        var command = Scoped(new Command("status", "What runs, per group: release, health, traffic weight; drift from the desired release."), [Output, repair, .. GateOptions]);
        command.SetAction((parse, ct) => Guarded(async () =>
        {
            var status = await Deployer.StatusAsync(Gated(parse).ToOptions(), parse.GetValue(repair), Log(parse), ct);
            if (Json(parse))
            {
                Console.WriteLine(JsonSerializer.Serialize(status, CliJson.Default.RolloutStatus));
                return status.InSync ? 0 : 3;
            }

            Console.WriteLine($"state: {status.StateLocation}");
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
            var options = Settings(parse).ToOptions();
            var history = await Deployer.HistoryAsync(options, ct);
            if (Json(parse))
            {
                Console.WriteLine(JsonSerializer.Serialize(history, CliJson.Default.IReadOnlyListLedgerEntry));
                return 0;
            }

            Console.WriteLine($"# state: {Deployer.StateLocation(options)}");

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
        var command = Scoped(new Command("deploy", "Roll a release out by replacing instances, with health gates and automatic rollback."), [strategy, replicas, canarySteps, canaryPause, analysisWindow, .. GateOptions]);
        command.Arguments.Add(release);
        command.SetAction((parse, ct) => Guarded(async () =>
        {
            var value = parse.GetValue(release)!;
            var options = (Gated(parse) with
            {
                Rollout = new RolloutSettings { Strategy = parse.GetValue(strategy), Replicas = parse.GetValue(replicas), CanarySteps = parse.GetValue(canarySteps), CanaryPause = parse.GetValue(canaryPause), AnalysisWindow = parse.GetValue(analysisWindow) },
            }).ToOptions();
            // A path that is not a file is a release.json the user meant, not a release id: read it for its IMB error.
            var result = File.Exists(value) || Directory.Exists(value) || LooksLikePath(value)
                ? await Deployer.DeployAsync(options, value, Log(parse), ct)
                : await Deployer.DeployAsync(options, await FromLedgerAsync(options, value, ct), Log(parse), ct);
            return Finish(result);
        }));
        return command;
    }

    private static Command Rollback()
    {
        var to = new Option<string?>("--to") { Description = "The release id to return to. Default: the previous successful release." };
        var command = Scoped(new Command("rollback", "Redeploy an earlier release by digest (pulled again, whatever is left on the host)."), [to, .. GateOptions]);
        command.SetAction((parse, ct) => Guarded(async () => Finish(await Deployer.RollbackAsync(Gated(parse).ToOptions(), parse.GetValue(to), Log(parse), ct))));
        return command;
    }

    private static Command Prune()
    {
        var retain = new Option<string?>("--retain") { Description = "Previous releases to keep. Default: 2." };
        var registry = new Option<bool>("--registry") { Description = "Also delete the pruned releases' images from their registry." };
        var command = Scoped(new Command("prune", "Remove releases beyond the current and the retained ones from the target."), retain, registry);
        command.SetAction((parse, ct) => Guarded(async () =>
        {
            var result = await Deployer.PruneAsync((Settings(parse) with { Retain = parse.GetValue(retain), PruneRegistry = parse.GetValue(registry) ? "true" : null }).ToOptions(), Log(parse), ct);
            Console.WriteLine($"kept {string.Join(", ", result.Kept.Select(r => r.ReleaseId))}; removed {(result.Removed.Count == 0 ? "nothing" : string.Join(", ", result.Removed.Select(r => r.ReleaseId)))}");
            return 0;
        }));
        return command;
    }

    private static Command BakeAmi()
    {
        var release = new Argument<string>("release") { Description = "The release.json to bake." };
        var command = Scoped(new Command("bake-ami", "Bake the release into an AMI (or adopt the one baked from its digest); record it in release.json and release.auto.tfvars.json."));
        command.Arguments.Add(release);
        command.SetAction((parse, ct) => Guarded(async () =>
        {
            var path = parse.GetValue(release)!;
            if (!File.Exists(path))
            {
                throw new ImmutableBuildException("IMB6107", $"No release.json at {path}: give the path of the release.json that `dotnet publish` wrote.");
            }

            // The bake's own steps (builder, command, image) are its progress, so they are shown.
            var settings = Settings(parse);
            var images = await Deployer.BakeAsync((settings with { Target = settings.Target ?? "ec2" }).ToOptions(), path, new ReleaseLog(Console.WriteLine, Console.WriteLine, (code, w) => Console.Error.WriteLine($"warning {code}: {w}")), ct);
            Console.WriteLine(string.Join(System.Environment.NewLine, images.ImagesByRegion.Select(i => $"{i.Key}\t{i.Value}")));
            return 0;
        }));
        return command;
    }

    private static Command Lock()
    {
        var command = new Command("lock", "The scope's deploy lock: who holds it, and clearing one whose holder is gone.");
        var status = Scoped(new Command("status", "Who holds the deploy lock: user, machine, process, command, since when, CI run."));
        status.SetAction((parse, ct) => Guarded(async () =>
        {
            var options = Settings(parse).ToOptions();
            var holder = await Deployer.LockStatusAsync(options, ct);
            Console.WriteLine($"state: {Deployer.StateLocation(options)}");
            Console.WriteLine(holder is null ? "lock: free" : $"lock: held, {holder.Describe()}");
            return holder is null ? 0 : 4;
        }));
        var force = new Option<bool>("--force") { Description = "Required: clearing a lock whose holder still runs lets two rollouts overlap." };
        var release = Scoped(new Command("release", "Clear the deploy lock whoever holds it (its runner died); the ledger records who cleared it."), force);
        release.SetAction((parse, ct) => Guarded(async () =>
        {
            if (!parse.GetValue(force))
            {
                throw new ImmutableBuildException(Immutable.Build.State.StateErrors.ForceRequired, "`immutable lock release` clears a lock another runner may still hold; check `immutable lock status` and add --force.");
            }

            var cleared = await Deployer.ForceReleaseLockAsync(Settings(parse).ToOptions(), Log(parse), ct);
            Console.WriteLine(cleared is null ? "lock: was free" : $"lock: cleared ({cleared.Describe()})");
            return 0;
        }));
        command.Subcommands.Add(status);
        command.Subcommands.Add(release);
        return command;
    }

    private static Command StateCommand()
    {
        var command = new Command("state", "The rollout state (deploy lock, journal, ledger) and where it lives.");
        var to = new Option<string>("--to") { Description = "The shared store to copy to: s3://bucket/prefix or docker://.", Required = true };
        var migrate = Scoped(new Command("migrate", "Copy the scope's journal and ledger from the state directory to a shared store; then set ImmutableStateUrl on every runner."), to);
        migrate.SetAction((parse, ct) => Guarded(async () =>
        {
            var (journal, ledger) = await Deployer.MigrateStateAsync(Settings(parse).ToOptions(), parse.GetValue(to)!, Log(parse), ct);
            Console.WriteLine($"migrated {journal} journal and {ledger} ledger line(s) to {parse.GetValue(to)}");
            return 0;
        }));
        command.Subcommands.Add(migrate);
        var repair = Scoped(new Command("repair", "Replace damaged journal and ledger lines (IMB6210) with records that keep their text, and write back the ledger entries the journal proves."));
        repair.SetAction((parse, ct) => Guarded(async () =>
        {
            var options = Settings(parse).ToOptions();
            var done = await Deployer.RepairStateAsync(options, Log(parse), ct);
            Console.WriteLine($"state: {Deployer.StateLocation(options)}");
            Console.WriteLine(done.Count == 0 ? "state repair: the journal and ledger read whole; nothing to do" : $"state repair: {done.Count} change(s), recorded in the ledger");
            foreach (var line in done)
            {
                Console.WriteLine($"  {line}");
            }

            return 0;
        }));
        command.Subcommands.Add(repair);
        return command;
    }

    private static Command Local()
    {
        var local = new Command("local", "The local target's host process.");
        var stop = new Command("stop", "Stop the local host and every instance it runs.");
        stop.Options.Add(StateDir);
        stop.SetAction((parse, ct) => Guarded(async () =>
        {
            var state = Deployer.StateDirectory(parse.GetValue(StateDir));
            Console.WriteLine(await LocalHostControl.StopAsync(state, cancellationToken: ct) ? $"stopped the local host of {state}" : $"no local host runs for {state}");
            return 0;
        }));
        local.Subcommands.Add(stop);
        return local;
    }

    private static Command Scoped(Command command, params Option[] extra)
    {
        foreach (var option in new Option[] { App, Environment, Target, StateDir, StateUrl }.Concat(TargetOptions.Select(o => o.Option)).Concat(extra))
        {
            command.Options.Add(option);
        }

        return command;
    }

    // Only the strings given: Core parses them, and fills in the app and the target's settings it remembers.
    private static DeploymentSettings Settings(ParseResult parse) => new()
    {
        // Checked here: a file as the state directory reads as empty state, and `history` would answer "nothing" with success.
        StateDirectory = (parse.GetValue(StateDir) ?? System.Environment.GetEnvironmentVariable("IMMUTABLE_STATE_DIR")) is { Length: > 0 } dir && File.Exists(dir)
            ? throw new ImmutableBuildException(CliErrors.StateDirIsFile, $"--state-dir {dir} is a file, not a folder. Give the state directory's folder, or leave it out for the default (~/.local/state/immutable-build).")
            : parse.GetValue(StateDir),
        App = parse.GetValue(App),
        Environment = parse.GetValue(Environment),
        Target = parse.GetValue(Target),
        StateUrl = parse.GetValue(StateUrl),
        TargetSettings = TargetOptions.Select(o => (o.Setting.Property, Value: parse.GetValue(o.Option)))
            .Where(o => !string.IsNullOrWhiteSpace(o.Value)).ToDictionary(o => o.Property, o => o.Value!, StringComparer.OrdinalIgnoreCase),
    };

    private static DeploymentSettings Gated(ParseResult parse) => Settings(parse) with
    {
        HealthPath = parse.GetValue(HealthPath),
        HealthTimeout = parse.GetValue(HealthTimeout),
        CheckReleaseIdentity = parse.GetValue(CheckReleaseIdentity),
        PrometheusUrl = parse.GetValue(PrometheusUrl),
        PrometheusQuery = parse.GetValue(PrometheusQuery),
        PrometheusCondition = parse.GetValue(PrometheusCondition),
    };

    private static async Task<ReleaseRef> FromLedgerAsync(DeploymentOptions settings, string idOrDigest, CancellationToken ct)
    {
        var history = await Deployer.HistoryAsync(settings, ct);
        return ReleaseLedger.FindRelease(history, idOrDigest)?.Release
            ?? throw new ImmutableBuildException("IMB6107", $"No release '{idOrDigest}' in the ledger of {Deployer.Scope(settings).App}; give the path of its release.json, or an id or digest from `immutable history`.");
    }

    private static bool LooksLikePath(string value) =>
        value.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || value.Contains('/', StringComparison.Ordinal) || value.Contains('\\', StringComparison.Ordinal);

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
        catch (IOException e) when (DiskFull.Is(e))
        {
            await Console.Error.WriteLineAsync($"error {GeneralErrors.DiskFull}: The disk is full: {e.Message} Free space there, or point --state-dir / IMMUTABLE_STATE_DIR at another disk, and run again.");
            return 1;
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("error IMB0002: cancelled; run the same command again to converge.");
            return 130;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or InvalidOperationException or ArgumentException)
        {
            // Unforeseen, but still a coded line and no stack trace, as the MSBuild tasks report it.
            await Console.Error.WriteLineAsync($"error IMB0003: Failed unexpectedly: {e.GetType().Name}: {e.Message} Report it if it persists.");
            return 1;
        }
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true)]
[JsonSerializable(typeof(RolloutStatus))]
[JsonSerializable(typeof(IReadOnlyList<LedgerEntry>))]
internal sealed partial class CliJson : JsonSerializerContext;
