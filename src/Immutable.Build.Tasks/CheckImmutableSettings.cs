using System.Xml;
using System.Xml.Linq;
using Immutable.Build.Deployments;
using Immutable.Build.Releases;
using Immutable.Build.Versioning;
using Microsoft.Build.Framework;
using MSTask = Microsoft.Build.Utilities.Task;

namespace Immutable.Build.Tasks;

/// <summary>
/// The checks that need no build, run before the compile so that a publish that cannot make a release fails in
/// seconds: the commit the release is named by (git and a repository, or ImmutableSourceRevision), and the
/// spelling of every Immutable* property set on the command line or in the project's own files.
/// </summary>
/// <remarks>
/// A task cannot list a project's properties, so the names come from where a user writes them: the global
/// properties (-p:) and the PropertyGroups of the project file and of Directory.Build.props/.targets. Environment
/// variables named Immutable* are left alone: tests and tools use them to isolate a run.
/// </remarks>
public sealed class CheckImmutableSettings : MSTask
{
    [Required] public string ProjectDirectory { get; set; } = "";
    public string? SourceRevision { get; set; }

    /// <summary>The files whose PropertyGroups are read for names: the project file, Directory.Build.props, Directory.Build.targets.</summary>
    public string[] SettingsFiles { get; set; } = [];

    /// <summary>The layer cache folder, where the last release of this project is recorded.</summary>
    public string? LayerCacheDirectory { get; set; }

    /// <summary>The registry this publish pushes to (ContainerRegistry), if any.</summary>
    public string? Registry { get; set; }

    /// <inheritdoc />
    public override bool Execute()
    {
        // A no-op rerun's one registry request, warmed while the build runs: see ReleasePipeline.WarmUpRerunAsync.
        _ = ReleasePipeline.WarmUpRerunAsync(LayerCacheDirectory, Registry);

        var sources = new List<(string Name, string Where)>();
        if (BuildEngine is IBuildEngine6 engine)
        {
            sources.AddRange(engine.GetGlobalProperties().Keys.Select(k => (k, "with -p:")));
        }

        foreach (var file in SettingsFiles.Where(f => !string.IsNullOrWhiteSpace(f) && File.Exists(f)).Distinct(StringComparer.Ordinal))
        {
            sources.AddRange(PropertyNames(file).Select(n => (n, "in " + Path.GetFileName(file))));
        }

        var where = sources.GroupBy(s => s.Name, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.First().Where, StringComparer.OrdinalIgnoreCase);
        // The package's own names answer almost every publish; the targets beside Core (assemblies to load, tens of
        // milliseconds on every publish) are asked only when a name is not among them.
        var names = sources.Select(s => s.Name).ToList();
        var unknowns = PropertySpelling.FindUnknown(names, PackageProperties.Names, PackageProperties.Prefix);
        if (unknowns.Count > 0)
        {
            unknowns = PropertySpelling.FindUnknown(names, PackageProperties.Known(TargetProviders.All()), PackageProperties.Prefix);
        }

        foreach (var unknown in unknowns)
        {
            var advice = unknown.Suggestion is { } suggestion
                ? $"did you mean {suggestion}?"
                : "the properties are listed in Immutable.Build's README.";
            Log.LogWarning("Immutable.Build", TaskErrors.UnknownProperty, null, null, 0, 0, 0, 0,
                $"{unknown.Name} (set {where[unknown.Name]}) is not a property Immutable.Build knows, so it is ignored; {advice}");
        }

        return TaskLog.Guard(Log, CancellationToken.None, "The check was cancelled.", () =>
            SourceRevisionReader.Verify(new SourceRevisionOptions(ProjectDirectory, string.IsNullOrWhiteSpace(SourceRevision) ? null : SourceRevision)));
    }

    private IEnumerable<string> PropertyNames(string file)
    {
        try
        {
            return XDocument.Load(file).Descendants()
                .Where(e => e.Name.LocalName == "PropertyGroup")
                .SelectMany(g => g.Elements())
                .Select(e => e.Name.LocalName)
                .ToList();
        }
        catch (Exception e) when (e is XmlException or IOException or UnauthorizedAccessException)
        {
            // MSBuild itself reports a file it cannot read; the spelling check just has nothing to say about it.
            Log.LogMessage(MessageImportance.Low, $"Immutable.Build did not check the property names of {file}: {e.Message}");
            return [];
        }
    }
}
