using System.Text.Json;
using System.Text.Json.Serialization;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;

namespace Immutable.Build.Deployments;

/// <summary>What a scope remembers of its last rollout: the target's name and non-secret settings, and the gates of the last one that succeeded.</summary>
/// <param name="App">The app.</param>
/// <param name="Environment">The environment.</param>
/// <param name="Target">The target's name (local, docker, ...).</param>
/// <param name="Settings">The target's settings by MSBuild property name, secrets left out.</param>
public sealed record RememberedTarget(string App, string Environment, string Target, IReadOnlyDictionary<string, string> Settings)
{
    /// <summary>The gate settings of the scope's last successful rollout by MSBuild property name (ImmutableHealthPath, ...): those given or remembered, not the defaults.</summary>
    public IReadOnlyDictionary<string, string> Gates { get; init; } = new Dictionary<string, string>();

    /// <summary>The scope.</summary>
    [JsonIgnore]
    public DeploymentScope Scope => new(App, Environment);
}

/// <summary>
/// The store of <see cref="RememberedTarget"/>s: <c>&lt;stateDir&gt;/targets/&lt;scope key&gt;.json</c>, one file per
/// scope, replaced atomically on every rollout. So `immutable status`, `rollback` and `prune` reach the same
/// target as the last rollout did without its options being given again.
/// </summary>
public static class RememberedTargets
{
    /// <summary>Records the target of a rollout of <paramref name="target"/>'s scope (IMB6008 when the state cannot be written).</summary>
    public static void Save(string stateDirectory, RememberedTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var path = PathOf(stateDirectory, target.Scope);
        try
        {
            PrivateFiles.CreateParent(path);
            var file = new TargetFile { App = target.App, Environment = target.Environment, Target = target.Target, Settings = Sorted(target.Settings), Gates = Sorted(target.Gates) };
            AtomicFile.WriteAllText(path, JsonSerializer.Serialize(file, TargetFileJson.Default.TargetFile), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImmutableBuildException(State.StateErrors.StateDirectoryUnusable, $"The target of {target.App} ({target.Environment}) cannot be recorded at {path}: {e.Message} Check ImmutableStateDir / IMMUTABLE_STATE_DIR and its permissions.", e);
        }
    }

    /// <summary>The target the scope's last rollout used, or null when none was recorded.</summary>
    public static RememberedTarget? Load(string stateDirectory, DeploymentScope scope)
    {
        ArgumentNullException.ThrowIfNull(scope);
        // Scope keys fold names (My App and my-app share one), so the file must name this very scope.
        return Read(PathOf(stateDirectory, scope)) is { } remembered && remembered.Scope == scope ? remembered : null;
    }

    /// <summary>Every scope with a recorded target, ordered by app and environment.</summary>
    public static IReadOnlyList<RememberedTarget> All(string stateDirectory)
    {
        var folder = Path.Combine(Path.GetFullPath(stateDirectory), "targets");
        return !Directory.Exists(folder) ? []
            : Directory.EnumerateFiles(folder, "*.json").Select(Read).OfType<RememberedTarget>()
                .OrderBy(t => t.App, StringComparer.Ordinal).ThenBy(t => t.Environment, StringComparer.Ordinal).ToList();
    }

    private static SortedDictionary<string, string> Sorted(IReadOnlyDictionary<string, string> settings) =>
        new(settings.ToDictionary(s => s.Key, s => s.Value, StringComparer.OrdinalIgnoreCase), StringComparer.OrdinalIgnoreCase);

    private static string PathOf(string stateDirectory, DeploymentScope scope) =>
        Path.Combine(Path.GetFullPath(stateDirectory), "targets", scope.Key + ".json");

    // A file that cannot be read is as good as none: it only saves typing, and options given still work.
    private static RememberedTarget? Read(string path)
    {
        try
        {
            var file = File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllText(path), TargetFileJson.Default.TargetFile) : null;
            return file is { App.Length: > 0, Environment.Length: > 0, Target.Length: > 0 }
                ? new RememberedTarget(file.App, file.Environment, file.Target, new Dictionary<string, string>(file.Settings ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase))
                {
                    Gates = new Dictionary<string, string>(file.Gates ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase),
                }
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }
}

internal sealed class TargetFile
{
    public string App { get; set; } = "";

    public string Environment { get; set; } = "";

    public string Target { get; set; } = "";

    public IDictionary<string, string>? Settings { get; set; }

    public IDictionary<string, string>? Gates { get; set; }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(TargetFile))]
internal sealed partial class TargetFileJson : JsonSerializerContext;
