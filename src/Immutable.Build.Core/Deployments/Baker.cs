using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Immutable.Build.Releases;

namespace Immutable.Build.Deployments;

/// <summary>What to publish: a project and the MSBuild properties that shape its release (and rollout).</summary>
public sealed record BakeRequest
{
    /// <summary>The project file, or a folder holding one.</summary>
    public required string Project { get; init; }

    /// <summary>The build configuration (default Release).</summary>
    public string Configuration { get; init; } = "Release";

    /// <summary>The target framework, for a project with several.</summary>
    public string? Framework { get; init; }

    /// <summary>The runtime identifier, when it is not the project's.</summary>
    public string? Runtime { get; init; }

    /// <summary>MSBuild properties (ContainerRegistry, ImmutableTarget, ...), passed as -p:Name=Value.</summary>
    public IReadOnlyDictionary<string, string> Properties { get; init; } = new Dictionary<string, string>();

    /// <summary>Extra arguments for dotnet publish, as given.</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>Environment variables for the publish process (null removes one).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    /// <summary>The dotnet executable; default DOTNET_HOST_PATH, else dotnet on PATH.</summary>
    public string? DotnetPath { get; init; }

    /// <summary>The working folder of the publish; default the project's folder.</summary>
    public string? WorkingDirectory { get; init; }
}

/// <summary>A baked release, as the publish reported it.</summary>
/// <param name="Id">The release id.</param>
/// <param name="App">The app name.</param>
/// <param name="Digest">The image manifest digest (sha256:...).</param>
/// <param name="Reference">repository@sha256:...</param>
/// <param name="Tags">The tags written (or adopted) for the release.</param>
/// <param name="ManifestPath">The absolute path of release.json.</param>
/// <param name="RolloutOutcome">The rollout's outcome when ImmutableTarget was set, else null.</param>
/// <param name="RolloutReport">The rollout report (rollout.md) when there was a rollout.</param>
public sealed record BakeResult(string Id, string App, string Digest, string Reference, IReadOnlyList<string> Tags, string ManifestPath, string? RolloutOutcome, string? RolloutReport);

/// <summary>
/// Runs <c>dotnet publish</c> of a project that references Immutable.Build and returns the release it recorded. The
/// build's output goes to the caller line by line; a failed publish becomes the first IMB error it reported.
/// </summary>
public static partial class Baker
{
    private static readonly string[] Outputs = ["ImmutableReleaseId", "ImmutableImageDigest", "ImmutableImageReference", "ImmutableReleaseManifest", "ImmutableRolloutOutcome", "ImmutableRolloutReport"];

    /// <summary>Publishes and reads back the release.</summary>
    public static async Task<BakeResult> BakeAsync(BakeRequest request, Action<string> output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(output);
        var project = Path.GetFullPath(request.Project);
        if (!File.Exists(project) && !Directory.Exists(project))
        {
            throw new ImmutableBuildException(BakeErrors.BakeProjectMissing, $"The project {project} does not exist; give the path of the app's project file (or its folder).");
        }

        var resultFile = Path.Combine(Path.GetTempPath(), $"immutable-bake-{Guid.NewGuid():N}.json");
        var info = new ProcessStartInfo(Dotnet(request))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = request.WorkingDirectory ?? (Directory.Exists(project) ? project : Path.GetDirectoryName(project)!),
        };
        var arguments = new List<string> { "publish", project, "-c", request.Configuration, "-nologo", "-v:m" };
        if (!string.IsNullOrWhiteSpace(request.Framework))
        {
            arguments.AddRange(["-f", request.Framework]);
        }

        if (!string.IsNullOrWhiteSpace(request.Runtime))
        {
            arguments.AddRange(["-r", request.Runtime]);
        }

        foreach (var (name, value) in request.Properties)
        {
            if (!PropertyName().IsMatch(name))
            {
                throw BakeErrors.InvalidPropertyName(name);
            }

            arguments.Add($"-p:{name}={Escape(value)}");
        }

        arguments.AddRange(request.Arguments);
        arguments.AddRange(Outputs.Select(o => $"-getProperty:{o}"));
        arguments.Add("-getItem:ImmutableReleaseTag");
        arguments.Add($"-getResultOutputFile:{resultFile}");
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (name, value) in request.Environment)
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        // Property values can be credentials: the line names them without their values.
        output($"dotnet publish {project} -c {request.Configuration}{(request.Properties.Count == 0 ? "" : " with " + string.Join(", ", request.Properties.Keys))}");
        var errors = new List<(string Code, string Message)>();
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            if (ErrorLine().Match(line) is { Success: true } m)
            {
                lock (errors)
                {
                    errors.Add((m.Groups["code"].Value, m.Groups["message"].Value.Trim()));
                }
            }

            output(line);
        }

        try
        {
            using var process = new Process { StartInfo = info };
            process.OutputDataReceived += (_, e) => OnLine(e.Data);
            process.ErrorDataReceived += (_, e) => OnLine(e.Data);
            try
            {
                process.Start();
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw BakeErrors.DotnetNotStarted(info.FileName, e);
            }

            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                await process.WaitForExitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }

            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                var first = errors.FirstOrDefault(e => e.Code.StartsWith("IMB", StringComparison.Ordinal));
                throw first.Code is not null
                    ? new ImmutableBuildException(first.Code, first.Message)
                    : new ImmutableBuildException(BakeErrors.BakePublishFailed, $"dotnet publish of {project} failed with exit code {process.ExitCode}{(errors.Count == 0 ? "" : $": {errors[0].Code}: {Sentence.Open(errors[0].Message)}")}. Its output above says why.");
            }

            return Read(resultFile, project);
        }
        finally
        {
            File.Delete(resultFile);
        }
    }

    private static BakeResult Read(string resultFile, string project)
    {
        if (!File.Exists(resultFile))
        {
            throw BakeErrors.NoResults(project);
        }

        using var doc = JsonDocument.Parse(File.ReadAllText(resultFile));
        var properties = doc.RootElement.TryGetProperty("Properties", out var p) ? p : default;
        string? Get(string name) => properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(name, out var v) && v.GetString() is { Length: > 0 } s ? s : null;
        var manifestPath = Get("ImmutableReleaseManifest");
        if (manifestPath is null)
        {
            throw new ImmutableBuildException(BakeErrors.BakeNoRelease, $"dotnet publish of {project} recorded no release: reference the Immutable.Build package in the project, and leave ImmutableEnabled unset (or true).");
        }

        var manifest = ReleaseManifestFile.Read(manifestPath);
        var tags = doc.RootElement.TryGetProperty("Items", out var items) && items.TryGetProperty("ImmutableReleaseTag", out var list)
            ? list.EnumerateArray().Select(i => i.GetProperty("Identity").GetString() ?? "").Where(t => t.Length > 0).ToList()
            : [.. manifest.Image.Tags];
        return new BakeResult(
            Get("ImmutableReleaseId") ?? manifest.ReleaseId,
            manifest.App,
            Get("ImmutableImageDigest") ?? manifest.Image.Digest,
            Get("ImmutableImageReference") ?? manifest.Image.Reference,
            tags,
            Path.GetFullPath(manifestPath),
            Get("ImmutableRolloutOutcome"),
            Get("ImmutableRolloutReport"));
    }

    private static string Dotnet(BakeRequest request) =>
        request.DotnetPath is { Length: > 0 } explicitPath ? explicitPath
        : System.Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host
        : "dotnet";

    // MSBuild splits -p values on ';' and ',' and unescapes %XX.
    private static string Escape(string value) => value.Replace("%", "%25", StringComparison.Ordinal).Replace(";", "%3B", StringComparison.Ordinal).Replace(",", "%2C", StringComparison.Ordinal);

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_\-]*$")]
    private static partial Regex PropertyName();

    [GeneratedRegex(@"\berror (?<code>[A-Z]+[0-9]+)\s*:\s*(?<message>.*?)(\s+\[[^\]]*\])?$")]
    private static partial Regex ErrorLine();
}
