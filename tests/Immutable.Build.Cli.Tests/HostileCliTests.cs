using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Immutable.Build.Cli.Tests;

/// <summary>
/// Hostile command lines and release.json files given to the real `immutable` executable, one row each: an IMB code
/// whose message says what to fix, no stack trace, no file of the sandbox (its state directory included) changed, and
/// no process left behind that names the sandbox.
/// </summary>
public sealed class HostileCliTests
{
    private static string CliDll => Path.Combine(AppContext.BaseDirectory, "immutable.dll");

    /// <summary>
    /// What a row proves, its arguments ({release}: the sandbox's release.json, {work}: the sandbox, {state}: its state
    /// directory, {file}: a plain file), the release.json it writes (null: none), the code and a word of its fix.
    /// </summary>
    private sealed record Case(string Proves, string[] Arguments, Func<string?>? Release, string Code, string Fix);

    private static readonly string[] Deploy = ["deploy", "{release}", "--target", "local", "--state-dir", "{state}"];

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // The command line.
        ["unknown-option"] = new("an option no command takes is IMB1031, with where to look", [.. Deploy, "--no-such-option"], Valid, "IMB1031", "--help"),
        ["option-without-value"] = new("an option given without its value is IMB1031", ["deploy", "{release}", "--strategy"], Valid, "IMB1031", "--help"),
        ["missing-argument"] = new("deploy without a release is IMB1031", ["deploy", "--state-dir", "{state}"], null, "IMB1031", "--help"),
        ["unknown-command"] = new("an unknown command is IMB1031", ["frobnicate", "--state-dir", "{state}"], null, "IMB1031", "--help"),
        ["bad-strategy"] = new("an unknown strategy is refused before the release is touched", [.. Deploy, "--strategy", "sideways"], Valid, "IMB6", "bluegreen"),
        ["negative-replicas"] = new("a negative replica count is refused", [.. Deploy, "--replicas", "-3"], Valid, "IMB6003", "at least 1"),
        ["canary-step-not-a-number"] = new("a canary step that is not a number is refused", [.. Deploy, "--strategy", "canary", "--canary-steps", "10;abc;100"], Valid, "IMB6", "10;50;100"),
        ["canary-step-over-100"] = new("a canary percentage above 100 is refused", [.. Deploy, "--strategy", "canary", "--canary-steps", "50;150"], Valid, "IMB6", "100"),
        ["bad-duration"] = new("a duration that is not one is refused", [.. Deploy, "--health-timeout", "forever"], Valid, "IMB6003", "30s"),
        ["negative-duration"] = new("a negative pause is refused", [.. Deploy, "--strategy", "canary", "--canary-pause", "-5s"], Valid, "IMB6", "30s"),
        ["prometheus-file-scheme"] = new("a metric gate URL that is not http(s) is refused", [.. Deploy, "--prometheus-url", "file:///etc/passwd", "--prometheus-query", "up", "--prometheus-condition", "> 0"], Valid, "IMB6", "http"),
        ["state-dir-is-a-file"] = new("a state directory that is a file is an IMB error, not an I/O trace", ["history", "--app", "hello", "--state-dir", "{file}"], null, "IMB1032", "folder"),

        // The path of the release.
        ["release-missing"] = new("a release.json path that does not exist is IMB4001", ["deploy", "{work}/nope/release.json", "--target", "local", "--state-dir", "{state}"], null, "IMB4001", "Publish again"),
        ["release-is-a-folder"] = new("a folder given as the release is IMB4001 naming the file to give", ["deploy", "{work}", "--target", "local", "--state-dir", "{state}"], null, "IMB4001", "release.json"),
        ["bake-release-is-a-folder"] = new("bake-ami of a folder is an IMB error before any AWS call", ["bake-ami", "{work}", "--state-dir", "{state}"], null, "IMB", "release.json"),

        // A corrupt or foreign release.json.
        ["empty-file"] = new("an empty release.json is IMB4001", Deploy, () => "", "IMB4001", "Publish again"),
        ["truncated"] = new("a release.json cut in half is IMB4001", Deploy, () => Valid()![..(Valid()!.Length / 2)], "IMB4001", "Publish again"),
        ["not-json"] = new("bytes that are not JSON are IMB4001", Deploy, () => Encoding.Latin1.GetString(RandomNumberGenerator.GetBytes(512)), "IMB4001", "Publish again"),
        ["json-null"] = new("the JSON literal null is IMB4001", Deploy, () => "null", "IMB4001", "Publish again"),
        ["json-array"] = new("a JSON array is IMB4001", Deploy, () => "[1, 2, 3]", "IMB4001", "Publish again"),
        ["foreign-shape"] = new("JSON of another tool's shape (a package.json) is IMB4001", Deploy, () => """{"name":"x","version":"1.0.0","dependencies":{}}""", "IMB4001", "Publish again"),
        ["newer-schema"] = new("a schema version from the future is IMB4001 asking for an update", Deploy, () => With(j => j["schemaVersion"] = 99), "IMB4001", "update Immutable.Build"),
        ["schema-zero"] = new("a schema version below 1 (no publish writes it) is IMB4030", Deploy, () => With(j => j["schemaVersion"] = 0), "IMB4030", "Publish again"),
        ["schema-not-a-number"] = new("a schema version of the wrong JSON type is IMB4001", Deploy, () => With(j => j["schemaVersion"] = "one"), "IMB4001", "Publish again"),
        ["digest-not-sha256"] = new("an image digest that is not sha256:<64 hex> is IMB4030", Deploy, () => With(j => j["image"]!["digest"] = "md5:0123456789abcdef"), "IMB4030", "Publish again"),
        ["digest-uppercase"] = new("an uppercase sha256 digest (no registry answers to it) is IMB4030", Deploy, () => With(j => j["image"]!["digest"] = "sha256:" + new string('A', 64)), "IMB4030", "Publish again"),
        ["reference-of-another-digest"] = new("an image reference that names another digest than image.digest is IMB4030", Deploy, () => With(j => j["image"]!["reference"] = "127.0.0.1:5000/hello@sha256:" + new string('b', 64)), "IMB4030", "Publish again"),
        ["app-traversal"] = new("an app name that climbs out of the state directory ('../..') is IMB4030", Deploy, () => With(j => j["app"] = "../../escape"), "IMB4030", "Publish again"),
        ["release-id-newline"] = new("a release id with a newline (a forged log line) is IMB4030", Deploy, () => With(j => j["releaseId"] = "v1\nerror IMB0000: forged"), "IMB4030", "Publish again"),
        ["layout-traversal"] = new("an OCI layout path that leaves release.json's folder is IMB4030", Deploy, () => With(j => j["image"]!["outputs"] = new JsonObject { ["ociLayout"] = "../../../../etc" }), "IMB4030", "Publish again"),
        ["commit-not-hex"] = new("a source commit that is not a SHA is IMB4030", Deploy, () => With(j => j["source"]!["commit"] = "$(rm -rf ~)"), "IMB4030", "Publish again"),
        ["huge-file"] = new("a 5 MiB release.json is refused by its size, not parsed", Deploy, () => Valid()!.Replace("{", "{" + new string(' ', 5 << 20), StringComparison.Ordinal), "IMB4001", "bytes"),
    };

    public static TheoryData<string> Names => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public async Task A_hostile_command_line_or_release_json_is_an_IMB_error(string name)
    {
        var row = Cases[name];
        var work = TestEnvironment.NewWorkDir("hostile-cli");
        var state = Path.Combine(work, "state");
        var file = Path.Combine(work, "plain.txt");
        await File.WriteAllTextAsync(file, "not a folder", TestContext.Current.CancellationToken);
        var release = Path.Combine(work, "release.json");
        if (row.Release?.Invoke() is { } content)
        {
            await File.WriteAllTextAsync(release, content, TestContext.Current.CancellationToken);
        }

        var before = Snapshot(work);
        var arguments = row.Arguments.Select(a => a.Replace("{release}", release, StringComparison.Ordinal).Replace("{work}", work, StringComparison.Ordinal).Replace("{state}", state, StringComparison.Ordinal).Replace("{file}", file, StringComparison.Ordinal));

        var result = await ProcessRunner.RunAsync("dotnet", [CliDll, .. arguments], work, new Dictionary<string, string?> { ["IMMUTABLE_STATE_DIR"] = state, ["IMMUTABLE_STATE_URL"] = null }, TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);

        Assert.True(result.ExitCode != 0, result.Output);
        Assert.Matches($"error {row.Code}\\d*: ", result.StandardError);
        Assert.Contains(row.Fix, result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", result.Output, StringComparison.Ordinal);
        // A value from the file never starts a line of its own (a forged error line).
        Assert.DoesNotContain("\nerror IMB0000", "\n" + result.Output, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(work));
        Assert.Empty(ProcessesNaming(work));
    }

    private static string? Valid() => ValidManifest().ToJsonString();

    private static string With(Action<JsonObject> change)
    {
        var json = ValidManifest();
        change(json);
        return json.ToJsonString();
    }

    /// <summary>A release.json as a publish writes it, for a release whose OCI layout is not there.</summary>
    private static JsonObject ValidManifest()
    {
        var digest = "sha256:" + new string('a', 64);
        var commit = new string('c', 40);
        return new JsonObject
        {
            ["schemaVersion"] = 1,
            ["app"] = "hello",
            ["releaseId"] = commit[..12],
            ["source"] = new JsonObject { ["commit"] = commit, ["shortCommit"] = commit[..12], ["dirty"] = false, ["commitTime"] = "2026-01-01T00:00:00+00:00", ["repositoryUrl"] = null, ["origin"] = "git" },
            ["image"] = new JsonObject
            {
                ["registry"] = null,
                ["repository"] = "hello",
                ["digest"] = digest,
                ["reference"] = "hello@" + digest,
                ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
                ["tags"] = new JsonArray(commit[..12]),
                ["engine"] = "immutable",
                ["outputs"] = new JsonObject { ["ociLayout"] = "image" },
            },
            ["build"] = new JsonObject { ["sdkVersion"] = "10.0.100", ["configuration"] = "Release", ["targetFramework"] = "net10.0", ["runtimeIdentifier"] = "linux-x64", ["toolVersion"] = "1.0.0" },
            ["provenance"] = new JsonObject
            {
                ["_type"] = "https://in-toto.io/Statement/v1",
                ["subject"] = new JsonArray(),
                ["predicateType"] = "https://slsa.dev/provenance/v1",
                ["predicate"] = new JsonObject
                {
                    ["buildDefinition"] = new JsonObject { ["buildType"] = "https://immutable.build/oci/v1", ["externalParameters"] = new JsonObject(), ["resolvedDependencies"] = new JsonArray() },
                    ["runDetails"] = new JsonObject { ["builder"] = new JsonObject { ["id"] = "https://immutable.build" } },
                },
            },
        };
    }

    /// <summary>Every entry of the sandbox: path, kind, size and content hash; a new file anywhere in it shows.</summary>
    private static List<string> Snapshot(string root) =>
        new DirectoryInfo(root).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(i => i is FileInfo f ? $"{f.FullName} {f.Length} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f.FullName)))}" : i.FullName + "/")
            .Order(StringComparer.Ordinal)
            .ToList()
            // The folder above the sandbox too: an app name that climbs would write beside it.
            .Concat(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(root)!, "escape*")).ToList();

    /// <summary>The processes (a local host, an instance) whose command line names the sandbox.</summary>
    private static List<string> ProcessesNaming(string root) =>
        Directory.EnumerateDirectories("/proc").Select(p => Path.Combine(p, "cmdline"))
            .Select(p =>
            {
                try
                {
                    return File.ReadAllText(p).Replace('\0', ' ');
                }
                catch (IOException)
                {
                    return "";
                }
                catch (UnauthorizedAccessException)
                {
                    return "";
                }
            })
            .Where(c => c.Contains(root, StringComparison.Ordinal))
            .ToList();
}
