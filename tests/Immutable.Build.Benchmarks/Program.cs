using System.Globalization;
using System.Text;
using Immutable.Build.Testing;

// Each variant is a real `dotnet publish` of the sample, run several times; the figure reported is the
// median wall time and the median peak memory of the publishing process, and each is divided by the
// same figure for the SDK's plain publish (and for the SDK's own container publish) measured here, now.
var runs = int.TryParse(Environment.GetEnvironmentVariable("BENCH_RUNS"), out var r) ? r : 5;
var bases = new BaseImagesFixture();
await bases.InitializeAsync();
try
{
    bases.Require();
}
catch (Exception e)
{
    Console.Error.WriteLine($"bench needs the test registry and base images: {e.Message}");
    return 1;
}

var registry = bases.Registry.Address;
var workspace = await SampleWorkspace.CreateAsync();
var env = new Dictionary<string, string?> { ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = registry };
var repo = "bench/hello-" + Guid.NewGuid().ToString("N")[..6];
string[] immutablePush = [$"-p:ContainerRegistry={registry}", $"-p:ContainerRepository={repo}", $"-p:ContainerBaseImage={bases.Busybox}"];
var sdkTag = 0;
string[] SdkContainer() => ["-t:PublishContainer", "-p:ImmutableEnabled=false", $"-p:ContainerRegistry={registry}", $"-p:ContainerRepository={repo}-sdk", $"-p:ContainerBaseImage={bases.Busybox}", $"-p:ContainerImageTags=run{++sdkTag}"];

var greeting = Path.Combine(workspace.ProjectDir, "Greeting.cs");
var original = await File.ReadAllTextAsync(greeting);
var edits = 0;
async Task ChangeAndCommit()
{
    await File.WriteAllTextAsync(greeting, original.Replace("Hello from an immutable release", $"Hello, edit {++edits}", StringComparison.Ordinal));
    await workspace.CommitAllAsync($"edit {edits}");
}

var results = new List<(string Name, double Seconds, double PeakMb)>();
async Task Measure(string name, Func<string[]> args, Func<Task>? prepare = null)
{
    var times = new List<double>();
    var peaks = new List<double>();
    for (var i = 0; i <= runs; i++)
    {
        if (prepare is not null)
        {
            await prepare();
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var result = await ProcessRunner.RunAsync("/usr/bin/time", ["-f", "PEAK_KB=%M", "dotnet", "publish", workspace.ProjectDir, "-c", "Release", "-nologo", .. args()], workspace.Root, env, TimeSpan.FromMinutes(5));
        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
        result.EnsureSuccess(name);
        var peak = result.StandardError.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("PEAK_KB=", StringComparison.Ordinal));
        if (i == 0)
        {
            continue; // warm-up
        }

        times.Add(seconds);
        peaks.Add(peak is null ? double.NaN : double.Parse(peak["PEAK_KB=".Length..], CultureInfo.InvariantCulture) / 1024);
    }

    var median = times.Order().ElementAt(times.Count / 2);
    var peakMedian = peaks.Order().ElementAt(peaks.Count / 2);
    results.Add((name, median, peakMedian));
    Console.WriteLine($"{name,-44} median {median,6:F2} s   peak {peakMedian,6:F0} MB   (n={times.Count})");
}

Console.WriteLine($"sample: {workspace.ProjectDir}; registry {registry}; base {bases.Busybox}; {runs} runs each after a warm-up");
await Measure("sdk publish (no image)", () => ["-p:ImmutableEnabled=false"]);
await Measure("sdk PublishContainer -> registry", SdkContainer);
await Measure("immutable -> registry, unchanged (adopt)", () => immutablePush);
await Measure("immutable -> OCI layout, unchanged", () => ["-p:ContainerBaseImage=scratch"]);
await Measure("sdk publish, after a commit", () => ["-p:ImmutableEnabled=false"], ChangeAndCommit);
await Measure("sdk PublishContainer -> registry, after a commit", SdkContainer, ChangeAndCommit);
await Measure("immutable -> registry, after a commit", () => immutablePush, ChangeAndCommit);

double Of(string name) => results.Single(x => x.Name == name).Seconds;
double PeakOf(string name) => results.Single(x => x.Name == name).PeakMb;
var table = new StringBuilder();
table.AppendLine(CultureInfo.InvariantCulture, $"| variant | median s | x sdk publish | x sdk container | peak MB | x sdk publish peak |");
table.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: |");
foreach (var (name, seconds, peak) in results)
{
    var baseline = name.Contains("after a commit", StringComparison.Ordinal) ? "sdk publish, after a commit" : "sdk publish (no image)";
    var container = name.Contains("after a commit", StringComparison.Ordinal) ? "sdk PublishContainer -> registry, after a commit" : "sdk PublishContainer -> registry";
    table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {seconds:F2} | {seconds / Of(baseline):F2} | {seconds / Of(container):F2} | {peak:F0} | {peak / PeakOf(baseline):F2} |");
}

Console.WriteLine();
Console.WriteLine(table);
var outDir = Path.Combine(TestEnvironment.RepoRoot, "artifacts", "bench");
Directory.CreateDirectory(outDir);
await File.WriteAllTextAsync(Path.Combine(outDir, "publish.md"), table.ToString());
Console.WriteLine($"written to {Path.Combine(outDir, "publish.md")}");
await bases.DisposeAsync();
return 0;
