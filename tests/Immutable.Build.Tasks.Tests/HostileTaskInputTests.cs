using System.Collections;
using System.Security.Cryptography;
using Immutable.Build.Tasks;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Immutable.Build.Tasks.Tests;

/// <summary>
/// Hostile MSBuild property values given to the tasks themselves, in-process with a recording build engine (no
/// `dotnet publish` per row): each is one logged IMB error whose message says what to fix, no MSBuild crash (MSB4018)
/// or stack trace, no secret of a registry URL in the log, and no file written in the sandbox (so no release.json, no
/// OCI layout, no state). Registry rows aim at a closed loopback port, so nothing can be pushed.
/// </summary>
public sealed class HostileTaskInputTests
{
    private const string Secret = "s3cret-hostile";

    /// <summary>What a row proves, the task it runs (set up in the sandbox), the code, and a word of the fix.</summary>
    private sealed record Case(string Proves, Func<Sandbox, ITask> Task, string Code, string Fix);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // Tags.
        ["tag-dotdot-path"] = new("a tag with '../' is refused", s => s.Release(t => t.UserTags = ["../etc"]), "IMB1004", "at most 128"),
        ["tag-newline"] = new("a tag with a newline (two tags, or a forged log line) is refused", s => s.Release(t => t.UserTags = ["v1\nv2"]), "IMB1004", "at most 128"),
        ["tag-space"] = new("a tag with a space is refused", s => s.Release(t => t.UserTags = ["v 1"]), "IMB1004", "at most 128"),
        ["tag-too-long"] = new("a 129-character tag is refused", s => s.Release(t => t.UserTags = [new string('a', 129)]), "IMB1004", "at most 128"),
        ["moving-tag-bad"] = new("an invalid moving tag is refused like a release tag", s => s.Release(t => t.MovingTags = ["-latest"]), "IMB1004", "at most 128"),
        // Names.
        ["app-name-traversal"] = new("ImmutableAppName '../escape' is refused before anything is written", s => s.Release(t => t.AppName = "../escape"), "IMB1030", "plain name"),
        ["app-name-newline"] = new("ImmutableAppName with a newline is refused", s => s.Release(t => t.AppName = "app\nerror IMB0000: forged"), "IMB1030", "plain name"),
        ["repository-invalid"] = new("a repository with characters no registry takes is refused", s => s.Release(t => { t.Registry = "127.0.0.1:9"; t.Repository = "bad//Repo!"; }), "IMB2013", "repository"),
        ["repository-absurd-length"] = new("a 300-character repository path is refused", s => s.Release(t => { t.Registry = "127.0.0.1:9"; t.Repository = string.Join('/', Enumerable.Repeat(new string('r', 60), 5)); }), "IMB2013", "repository"),
        ["source-revision-bad"] = new("an ImmutableSourceRevision that is not a SHA is refused", s => s.Release(t => t.SourceRevision = "HEAD~1; rm -rf /"), "IMB1002", "git rev-parse HEAD"),
        ["image-format-bad"] = new("an unknown ContainerImageFormat is refused", s => s.Release(t => t.ImageFormat = "tarball"), "IMB1006", "OCI"),
        // Registry URLs.
        ["registry-userinfo"] = new("a registry with user:password@ is refused and the password is not logged", s => s.Release(t => t.Registry = $"builder:{Secret}@127.0.0.1:9"), "IMB1034", "docker login"),
        ["registry-scheme-ftp"] = new("a registry given as an ftp:// URL is refused", s => s.Release(t => t.Registry = "ftp://127.0.0.1:9"), "IMB20", "host"),
        ["registry-path"] = new("a registry with a path after the host is refused", s => s.Release(t => t.Registry = "127.0.0.1:9/v2/../../x"), "IMB20", "host"),
        // Image settings.
        ["port-out-of-range"] = new("ContainerPort 70000 is refused", s => s.Release(t => t.Ports = [new TaskItem("70000")]), "IMB3013", "port"),
        ["port-not-a-number"] = new("ContainerPort 'http' is refused", s => s.Release(t => t.Ports = [new TaskItem("http")]), "IMB3013", "port"),
        ["port-bad-protocol"] = new("a port type other than tcp or udp is refused", s => s.Release(t => t.Ports = [Item("8080", "Type", "http")]), "IMB3013", "port"),
        ["env-name-with-equals"] = new("an environment variable name with '=' is refused", s => s.Release(t => t.EnvironmentVariables = [Item("A=B", "Value", "x")]), "IMB3013", "environment"),
        // Rollout settings, read before the release.json is.
        ["target-unknown"] = new("an unknown ImmutableTarget is refused, naming the known ones", s => s.Deploy(t => t.Target = "kubernetes"), "IMB6", "local"),
        ["canary-steps-over-100"] = new("a canary weight above 100 is refused", s => s.Deploy(t => { t.Strategy = "canary"; t.CanarySteps = "10;200"; }), "IMB6002", "100"),
        ["keep-old-for-not-a-duration"] = new("ImmutableKeepOldFor '10 years' is refused", s => s.Deploy(t => t.KeepOldFor = "10 years"), "IMB6003", "30s"),
        ["batch-size-zero"] = new("a rolling batch of 0 is refused", s => s.Deploy(t => { t.Strategy = "rolling"; t.BatchSize = "0"; }), "IMB6003", "at least 1"),
        ["retain-negative"] = new("ImmutableRetain -1 is refused", s => s.Deploy(t => t.Retain = "-1"), "IMB6", "Retain"),
        ["local-port-out-of-range"] = new("the local target's proxy port 99999 is refused", s => s.Deploy(t => t.TargetSettings = [Item("ImmutableLocalPort", "Value", "99999")]), "IMB6104", "port"),
        ["duplicate-instance-env"] = new("one instance variable given twice is not an internal crash (IMB0003): the deploy gets as far as its strategy", s => s.Deploy(t => { t.InstanceEnvironment = [Item("A", "Value", "1"), Item("A", "Value", "2")]; t.Strategy = "sideways"; }), "IMB6", "bluegreen"),
        // The early check.
        ["check-bad-revision"] = new("the pre-compile check refuses a malformed ImmutableSourceRevision", s => new CheckImmutableSettings { ProjectDirectory = s.Project, SourceRevision = "not-a-sha" }, "IMB1002", "git rev-parse HEAD"),
    };

    public static TheoryData<string> Names => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void A_hostile_property_is_one_IMB_error_and_writes_nothing(string name)
    {
        var row = Cases[name];
        var sandbox = Sandbox.Create();
        var task = row.Task(sandbox);
        var engine = new RecordingEngine();
        task.BuildEngine = engine;
        var before = sandbox.Snapshot();

        var succeeded = task.Execute();

        Assert.False(succeeded, engine.Log);
        var error = Assert.Single(engine.Errors);
        Assert.StartsWith(row.Code, error.Code, StringComparison.Ordinal);
        Assert.Contains(row.Fix, error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", engine.Log, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, engine.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("\nerror IMB0000", "\n" + error.Message, StringComparison.Ordinal);
        Assert.Equal(before, sandbox.Snapshot());
    }

    private static readonly string ReleaseJson = """
        {"schemaVersion":1,"app":"hello","releaseId":"cccccccccccc",
         "source":{"commit":"COMMIT","shortCommit":"cccccccccccc","dirty":false,"commitTime":"2026-01-01T00:00:00+00:00","repositoryUrl":null,"origin":"explicit"},
         "image":{"registry":null,"repository":"hello","digest":"sha256:DIGEST","reference":"hello@sha256:DIGEST","mediaType":"application/vnd.oci.image.manifest.v1+json","tags":["cccccccccccc"],"engine":"immutable","outputs":{"ociLayout":"image"}},
         "build":{"sdkVersion":null,"configuration":null,"targetFramework":null,"runtimeIdentifier":null,"toolVersion":"1.0.0"},
         "provenance":{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://immutable.build/oci/v1","externalParameters":{},"resolvedDependencies":[]},"runDetails":{"builder":{"id":"https://immutable.build"}}}}}
        """.Replace("COMMIT", new string('c', 40), StringComparison.Ordinal).Replace("DIGEST", new string('a', 64), StringComparison.Ordinal);

    private static TaskItem Item(string spec, string metadata, string value) => new(spec, new Dictionary<string, string> { [metadata] = value });

    /// <summary>A project folder with a published file, its output folder (empty) and a state directory (absent).</summary>
    private sealed class Sandbox
    {
        private Sandbox(string work) => Work = work;

        public string Work { get; }

        public string Project => Path.Combine(Work, "project");

        public string Publish => Path.Combine(Project, "publish");

        public string Output => Path.Combine(Project, "immutable");

        public static Sandbox Create()
        {
            var sandbox = new Sandbox(TestEnvironment.NewWorkDir("hostile-task"));
            Directory.CreateDirectory(sandbox.Publish);
            File.WriteAllText(Path.Combine(sandbox.Publish, "app.dll"), "not really an assembly");
            return sandbox;
        }

        /// <summary>A release that would succeed offline (scratch base, no registry, an explicit commit) but for <paramref name="change"/>.</summary>
        public CreateImmutableRelease Release(Action<CreateImmutableRelease> change)
        {
            var task = new CreateImmutableRelease
            {
                ProjectDirectory = Project,
                PublishDirectory = Publish,
                OutputDirectory = Output,
                AppName = "hello",
                Repository = "hello",
                BaseImage = "scratch",
                RuntimeIdentifier = "linux-x64",
                SourceRevision = new string('c', 40),
                PublishFiles = [new TaskItem(Path.Combine(Publish, "app.dll"), new Dictionary<string, string> { ["RelativePath"] = "app.dll" })],
            };
            change(task);
            return task;
        }

        /// <summary>A local deploy of a sound release.json (whose image is not there), from a state directory not there yet.</summary>
        public DeployImmutableRelease Deploy(Action<DeployImmutableRelease> change)
        {
            Directory.CreateDirectory(Output);
            File.WriteAllText(Path.Combine(Output, "release.json"), ReleaseJson);
            var task = new DeployImmutableRelease { ReleaseManifest = Path.Combine(Output, "release.json"), Target = "local", StateDirectory = Path.Combine(Work, "state") };
            change(task);
            return task;
        }

        public List<string> Snapshot() =>
            new DirectoryInfo(Work).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
                .Select(i => i is FileInfo f ? $"{f.FullName} {f.Length} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f.FullName)))}" : i.FullName + "/")
                .Order(StringComparer.Ordinal)
                .ToList();
    }

    /// <summary>The build engine a task sees, keeping what it logs.</summary>
    private sealed class RecordingEngine : IBuildEngine
    {
        private readonly List<string> _lines = [];

        public List<BuildErrorEventArgs> Errors { get; } = [];

        public string Log => string.Join('\n', _lines);

        public bool ContinueOnError => false;

        public int LineNumberOfTaskNode => 0;

        public int ColumnNumberOfTaskNode => 0;

        public string ProjectFileOfTaskNode => "hostile.csproj";

        public bool BuildProjectFile(string projectFileName, string[] targetNames, IDictionary globalProperties, IDictionary targetOutputs) => false;

        public void LogCustomEvent(CustomBuildEventArgs e) => _lines.Add(e.Message ?? "");

        public void LogErrorEvent(BuildErrorEventArgs e)
        {
            Errors.Add(e);
            _lines.Add($"error {e.Code}: {e.Message}");
        }

        public void LogMessageEvent(BuildMessageEventArgs e) => _lines.Add(e.Message ?? "");

        public void LogWarningEvent(BuildWarningEventArgs e) => _lines.Add($"warning {e.Code}: {e.Message}");
    }
}
