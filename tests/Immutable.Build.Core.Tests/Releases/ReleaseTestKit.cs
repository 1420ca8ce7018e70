using System.Text.Json;
using Immutable.Build.Releases;

namespace Immutable.Build.Core.Tests.Releases;

/// <summary>
/// A project as the release pipeline sees it after <c>dotnet publish</c>, without running one: a small publish
/// folder (app, project reference, package, deps.json) classified as the MSBuild items would be, and a request
/// with an explicit commit. The folder lives outside any git work tree, so the commit time is SOURCE_DATE_EPOCH
/// and no remote URL is read: every run of the test sees the same inputs.
/// </summary>
internal sealed class ReleaseProject : IDisposable
{
    public const string Commit = "0123456789abcdef0123456789abcdef01234567";
    public const string OtherCommit = "89abcdef0123456789abcdef0123456789abcdef";
    public static readonly DateTimeOffset CommitTime = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    private static readonly PublishItem[] Items =
    [
        new("App.dll", null, null, null, null),
        new("App.deps.json", null, null, null, null),
        new("App.runtimeconfig.json", null, null, null, null),
        new("Greeting.Lib.dll", null, "ProjectReference", null, null),
        new("Newtonsoft.Json.dll", "Newtonsoft.Json", null, null, null),
        new("runtimes/linux-x64/native/libuv.so", "Libuv", null, null, null),
    ];

    public ReleaseProject()
    {
        Root = Directory.CreateTempSubdirectory("imb-release-").FullName;
        Directory.CreateDirectory(ProjectDirectory);
        WritePublish("App.dll", "app v1");
        WritePublish("App.deps.json", """{"runtimeTarget":{"name":".NETCoreApp,Version=v10.0"},"targets":{},"libraries":{}}""");
        WritePublish("App.runtimeconfig.json", """{"runtimeOptions":{"tfm":"net10.0"}}""");
        WritePublish("Greeting.Lib.dll", "project reference");
        WritePublish("Newtonsoft.Json.dll", "a package");
        WritePublish("runtimes/linux-x64/native/libuv.so", "a native asset");
    }

    public string Root { get; }

    public string ProjectDirectory => Path.Combine(Root, "project");

    public string PublishDirectory => Path.Combine(ProjectDirectory, "bin", "publish");

    public string OutputDirectory => Path.Combine(ProjectDirectory, "obj", "immutable");

    public string LayerCacheDirectory => Path.Combine(OutputDirectory, "layers");

    public string ManifestPath => Path.Combine(OutputDirectory, "release.json");

    public string LayoutDirectory => Path.Combine(OutputDirectory, "image");

    public string ShortcutRecord => Path.Combine(LayerCacheDirectory, "last-release.json");

    public ReleaseRequest Request => new()
    {
        ProjectDirectory = ProjectDirectory,
        PublishDirectory = PublishDirectory,
        PublishFiles = PublishFileClassifier.Classify(Items),
        OutputDirectory = OutputDirectory,
        LayerCacheDirectory = LayerCacheDirectory,
        AppName = "hello",
        Repository = "hello-immutable",
        BaseImage = "scratch",
        RuntimeIdentifier = "linux-x64",
        Entrypoint = ["dotnet", "/app/App.dll"],
        Ports = ["8080/tcp"],
        Environment = [new("ASPNETCORE_HTTP_PORTS", "8080")],
        Labels = [new("org.opencontainers.image.created", "2026-05-01T10:11:12Z"), new("team", "web")],
        SourceRevision = Commit,
        SdkVersion = "10.0.100",
        Configuration = "Release",
        TargetFramework = "net10.0",
        EnvironmentVariables = new Dictionary<string, string?> { ["SOURCE_DATE_EPOCH"] = CommitTime.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture) },
    };

    public string WritePublish(string relative, string content)
    {
        var path = Path.Combine(PublishDirectory, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>Every file under the output folder with its bytes and time: what "nothing written" compares.</summary>
    public Dictionary<string, (DateTime Time, string Sha256)> OutputSnapshot() =>
        !Directory.Exists(OutputDirectory)
            ? []
            : Directory.EnumerateFiles(OutputDirectory, "*", SearchOption.AllDirectories).ToDictionary(
                f => Path.GetRelativePath(OutputDirectory, f),
                f => (File.GetLastWriteTimeUtc(f), Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)))));

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>Every line a release logged, by kind.</summary>
internal sealed class RecordingLog
{
    public List<string> Info { get; } = [];

    public List<string> Detail { get; } = [];

    public List<(string Code, string Message)> Warnings { get; } = [];

    public ReleaseLog Log => new(Info.Add, Detail.Add, (code, message) => Warnings.Add((code, message)));

    /// <summary>Whether layers were built or an image written: what an adopted release skips.</summary>
    public bool DidImageWork => Detail.Any(l => l.StartsWith("layer ", StringComparison.Ordinal) || l.StartsWith("OCI layout:", StringComparison.Ordinal) || l.StartsWith("assemble image", StringComparison.Ordinal));
}

internal static class ReleaseJson
{
    public static JsonElement Read(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        return doc.RootElement.Clone();
    }

    public static string Serialize(ReleaseManifest manifest) => JsonSerializer.Serialize(manifest, ReleaseJsonContext.Default.ReleaseManifest);
}
