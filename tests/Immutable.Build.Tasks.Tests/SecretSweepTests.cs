using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Tasks.Tests;

/// <summary>
/// Issue 14: every secret a release, push and local deploy touch is set to a marker of its own (the registry password
/// and its Basic header, a wrong password, the AWS key, secret and session token, the local host's control token),
/// the runs go at -v:diag with a binary log, one of them fails on purpose, and then every file they wrote (the
/// workspace with obj, bin and the binlogs decompressed, the state directory with its journals, ledger, reports,
/// host files and logs) and everything they printed is searched for each marker. The one place a marker may sit
/// is MSBuild's own record of the process environment (the variable's name, then its value): that is MSBuild's,
/// not this product's; any hit elsewhere (a property, an item, a message, an error) is a leak.
/// </summary>
public sealed class SecretSweepTests(BasicAuthRegistryFixture registry, MotoFixture moto) : IClassFixture<BasicAuthRegistryFixture>, IClassFixture<MotoFixture>, IAsyncLifetime
{
    private static readonly string[] EnvironmentVariables = ["DOTNET_CONTAINER_REGISTRY_PWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

    private static readonly System.Buffers.SearchValues<char> NameCharacters = System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");

    private readonly string _state = Path.Combine(TestEnvironment.NewWorkDir("sweep-state"), "state");
    private readonly int _port = TestNetwork.FreePort();

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await LocalHostControl.StopAsync(_state, TimeSpan.FromSeconds(5), CancellationToken.None);

    [Fact(Timeout = 900_000)]
    public async Task No_secret_reaches_any_file_a_release_push_and_deploy_write_nor_their_output_even_when_the_push_is_refused()
    {
        registry.Require();
        await moto.ResetAsync();
        var ct = TestContext.Current.CancellationToken;
        var unique = Guid.NewGuid().ToString("N");
        var wrong = "wrongpw-" + unique;
        var secrets = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["registry password"] = registry.Password,
            ["registry Basic header"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{registry.Username}:{registry.Password}")),
            ["wrong registry password"] = wrong,
            ["wrong Basic header"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{registry.Username}:{wrong}")),
            ["AWS access key"] = "AKIA" + unique[..16].ToUpperInvariant(),
            ["AWS secret key"] = "awssecret-" + unique,
            ["AWS session token"] = "awssession-" + unique,
        };
        var env = new Dictionary<string, string?>
        {
            ["DOTNET_CONTAINER_REGISTRY_UNAME"] = registry.Username,
            ["DOTNET_CONTAINER_REGISTRY_PWORD"] = registry.Password,
            ["AWS_ACCESS_KEY_ID"] = secrets["AWS access key"],
            ["AWS_SECRET_ACCESS_KEY"] = secrets["AWS secret key"],
            ["AWS_SESSION_TOKEN"] = secrets["AWS session token"],
            ["DOCKER_CONFIG"] = TestEnvironment.NewWorkDir("sweep-no-docker-config"),
            ["AWS_REGION"] = MotoFixture.Region,
            ["AWS_ENDPOINT_URL_S3"] = moto.Url.ToString(),
            ["IMMUTABLE_STATE_URL"] = "s3://sweep-state/team",
        };
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) })
        {
            // moto checks no signature: the bucket is made with a plain request, and the deploy signs its own.
            (await http.PutAsync(new Uri(moto.Url, "/sweep-state"), null, ct)).EnsureSuccessStatusCode();
        }

        var workspace = await SampleWorkspace.CreateAsync();
        string[] Args(string binlog) =>
        [
            $"-p:ContainerRegistry={registry.Address}", "-p:ContainerRepository=sweep/app", "-p:ContainerBaseImage=scratch",
            "-p:ImmutableTarget=local", $"-p:ImmutableStateDir={_state}", $"-p:ImmutableLocalPort={_port}",
            "-v:diag", $"-bl:{Path.Combine(workspace.Root, binlog)}",
        ];

        // Released, pushed with the password, deployed (the local host pulls it from the registry with the same credentials).
        var ok = await workspace.PublishWithResultsAsync(Args("deploy.binlog"), ["ImmutableReleaseId", "ImmutableRolloutOutcome"], env);
        Assert.True(ok.Process.ExitCode == 0, Tail(ok.Process.Output));
        Assert.Equal("Succeeded", ok["ImmutableRolloutOutcome"], ignoreCase: true);
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
        {
            Assert.Contains(ok["ImmutableReleaseId"], await http.GetStringAsync(new Uri($"http://127.0.0.1:{_port}/version"), ct), StringComparison.Ordinal);
        }

        // The next commit, refused: a wrong password.
        await workspace.SetGreetingAsync("refused " + unique[..6]);
        var denied = await workspace.PublishWithResultsAsync(Args("denied.binlog"), ["ImmutableReleaseId"], new Dictionary<string, string?>(env) { ["DOTNET_CONTAINER_REGISTRY_PWORD"] = wrong });
        Assert.NotEqual(0, denied.Process.ExitCode);
        Assert.Contains("IMB2004", denied.Process.Output, StringComparison.Ordinal);

        // The control token is the host's own: known only now, from host.json, the one file meant to hold it.
        var hostFile = Path.Combine(_state, LocalHostControl.HostFileName);
        using (var host = JsonDocument.Parse(await File.ReadAllBytesAsync(hostFile, ct)))
        {
            secrets["local host control token"] = host.RootElement.GetProperty("token").GetString()!;
        }

        // Stopped before the sweep, so its logs are complete.
        Assert.True(await LocalHostControl.StopAsync(_state, TimeSpan.FromSeconds(5), ct));

        var leaks = new List<string>();
        var environmentRecords = new List<string>();
        void Sweep(string where, byte[] content)
        {
            var text = Encoding.Latin1.GetString(content); // byte for byte: every marker is ASCII
            foreach (var (name, marker) in secrets)
            {
                if (name == "local host control token" && where == hostFile)
                {
                    continue;
                }

                for (var i = text.IndexOf(marker, StringComparison.Ordinal); i >= 0; i = text.IndexOf(marker, i + 1, StringComparison.Ordinal))
                {
                    if (IsEnvironmentRecord(text, i))
                    {
                        environmentRecords.Add($"{name} in {Path.GetFileName(where)}");
                        continue;
                    }

                    leaks.Add($"{name} in {where} at {i}: …{Printable(text, i, marker.Length)}…");
                }
            }
        }

        // The sweep itself: a marker under a name of the product's own is a leak, the variable's own record is not.
        Sweep("self-check", Encoding.UTF8.GetBytes($"ImmutableRegistryPassword={registry.Password} DOTNET_CONTAINER_REGISTRY_PWORD = {registry.Password}"));
        Assert.Single(leaks);
        Assert.Single(environmentRecords);
        leaks.Clear();
        environmentRecords.Clear();

        // The state went to S3, not the state directory: the AWS credentials were used.
        Assert.Empty(Directory.EnumerateFiles(_state, "*.jsonl", SearchOption.AllDirectories));
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) })
        {
            Assert.Contains("ledger.jsonl", await http.GetStringAsync(new Uri(moto.Url, "/sweep-state?list-type=2"), ct), StringComparison.Ordinal);
        }

        Sweep("the deploy's output", Encoding.UTF8.GetBytes(ok.Process.Output));
        Sweep("the refused publish's output", Encoding.UTF8.GetBytes(denied.Process.Output));
        var files = 0;
        foreach (var root in new[] { workspace.Root, _state })
        {
            foreach (var file in Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false }))
            {
                if (new FileInfo(file).LinkTarget is not null)
                {
                    continue;
                }

                files++;
                Sweep(file, Contents(file));
            }
        }

        Assert.True(files > 50, $"only {files} files were swept");
        Assert.True(File.Exists(Path.Combine(workspace.Root, "deploy.binlog")) && File.Exists(Path.Combine(workspace.Root, "denied.binlog")), "a binary log is missing");
        Assert.True(leaks.Count == 0, $"{leaks.Count} secret leaks in {files} files and 2 outputs:\n{string.Join('\n', leaks.Take(30))}");
        TestContext.Current.SendDiagnosticMessage($"swept {files} files and 2 outputs for {secrets.Count} markers; {environmentRecords.Count} hits were MSBuild's own environment record: {string.Join("; ", environmentRecords.GroupBy(r => r).Select(g => $"{g.Key} x{g.Count()}"))}");
    }

    /// <summary>A file's bytes; a gzip stream (a binlog) decompressed, since its strings are only readable so.</summary>
    private static byte[] Contents(string file)
    {
        var bytes = File.ReadAllBytes(file);
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b)
        {
            return bytes;
        }

        using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>
    /// Whether the marker at <paramref name="at"/> is the value right after the name of the variable it was given in:
    /// MSBuild's environment record, in a binlog (name and value as adjacent strings) or in -v:diag's listing ("NAME = value").
    /// A property of the product's own named after anything else, or a message, does not pass.
    /// </summary>
    private static bool IsEnvironmentRecord(string text, int at)
    {
        foreach (var variable in EnvironmentVariables)
        {
            for (var gap = 1; gap <= 4; gap++)
            {
                var start = at - gap - variable.Length;
                if (start >= 0 && string.CompareOrdinal(text, start, variable, 0, variable.Length) == 0
                    && (start == 0 || !char.IsAsciiLetterOrDigit(text[start - 1]) && text[start - 1] != '_')
                    && !text.AsSpan(at - gap, gap).ContainsAny(NameCharacters))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static string Printable(string text, int at, int length)
    {
        var from = Math.Max(0, at - 60);
        var span = text.Substring(from, Math.Min(text.Length, at + length + 20) - from);
        return new string(span.Select(c => c is >= ' ' and <= '~' ? c : '.').ToArray());
    }

    private static string Tail(string output) => output.Length > 6000 ? output[^6000..] : output;
}
