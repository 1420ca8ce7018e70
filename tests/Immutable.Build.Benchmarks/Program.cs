using System.Globalization;
using System.Text;
using Immutable.Build.Testing;

// Each variant is a real `dotnet publish` of the sample, run several times; the figure reported is the
// median wall time and the median peak memory of the publishing process, and each is divided by the
// same figure for the SDK's plain publish (and for the SDK's own container publish) measured here, now.
// BENCH_ONLY=ec2 runs the EC2 rollout bench alone (it needs moto, not the registry).
if (Environment.GetEnvironmentVariable("BENCH_ONLY") == "ec2")
{
    Console.WriteLine(await Ec2Bench.RunAsync());
    return 0;
}

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
var fresh = 0;
string[] SdkContainer(string repository, string tag) => ["-t:PublishContainer", "-p:ImmutableEnabled=false", $"-p:ContainerRegistry={registry}", $"-p:ContainerRepository={repository}", $"-p:ContainerBaseImage={bases.Busybox}", $"-p:ContainerImageTags={tag}"];
string[] Immutable(string repository) => [$"-p:ContainerRegistry={registry}", $"-p:ContainerRepository={repository}", $"-p:ContainerBaseImage={bases.Busybox}"];
var layerState = Path.Combine(workspace.ProjectDir, "obj", "Release", "net10.0", "immutable");

var greeting = Path.Combine(workspace.ProjectDir, "Greeting.cs");
var original = await File.ReadAllTextAsync(greeting);
var edits = 0;
async Task ChangeAndCommit()
{
    await File.WriteAllTextAsync(greeting, original.Replace("Hello from an immutable release", $"Hello, edit {++edits}", StringComparison.Ordinal));
    await workspace.CommitAllAsync($"edit {edits}");
}

Task ForgetImmutableState()
{
    // warm: build caches are warm, but the image is built and pushed in full (new repository, no layer cache)
    if (Directory.Exists(layerState))
    {
        Directory.Delete(layerState, recursive: true);
    }

    return Task.CompletedTask;
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

        var arguments = args();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var result = await ProcessRunner.RunAsync("/usr/bin/time", ["-f", "PEAK_KB=%M", "dotnet", "publish", workspace.ProjectDir, "-c", "Release", "-nologo", .. arguments], workspace.Root, env, TimeSpan.FromMinutes(5));
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
// warm: full image work with warm build caches
await Measure("plain publish, warm", () => ["-p:ImmutableEnabled=false"]);
await Measure("sdk PublishContainer, warm", () => SdkContainer($"{repo}-sdk-{++fresh}", "warm"));
await Measure("immutable, warm", () => Immutable($"{repo}-imm-{++fresh}"), ForgetImmutableState);
// a one-line change, committed
await Measure("plain publish, one-line change", () => ["-p:ImmutableEnabled=false"], ChangeAndCommit);
await Measure("sdk PublishContainer, one-line change", () => SdkContainer($"{repo}-sdk", $"c{edits}"), ChangeAndCommit);
await Measure("immutable, one-line change", () => Immutable($"{repo}-imm"), ChangeAndCommit);
// nothing changed since the last publish
await Measure("plain publish, no-op rerun", () => ["-p:ImmutableEnabled=false"]);
await Measure("sdk PublishContainer, no-op rerun", () => SdkContainer($"{repo}-sdk", "same"));
await Measure("immutable, no-op rerun", () => Immutable($"{repo}-imm"));

double Of(string name) => results.Single(x => x.Name == name).Seconds;
double PeakOf(string name) => results.Single(x => x.Name == name).PeakMb;
var table = new StringBuilder();
table.AppendLine("| scenario | plain publish s | sdk PublishContainer s | immutable s | immutable / sdk container | immutable / plain | peak MB plain / sdk / immutable |");
table.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
foreach (var scenario in new[] { "warm", "one-line change", "no-op rerun" })
{
    double P(string v) => Of($"{v}, {scenario}");
    double M(string v) => PeakOf($"{v}, {scenario}");
    table.AppendLine(CultureInfo.InvariantCulture, $"| {scenario} | {P("plain publish"):F2} | {P("sdk PublishContainer"):F2} | {P("immutable"):F2} | {P("immutable") / P("sdk PublishContainer"):F2} | {P("immutable") / P("plain publish"):F2} | {M("plain publish"):F0} / {M("sdk PublishContainer"):F0} / {M("immutable"):F0} |");
}

Console.WriteLine();
Console.WriteLine(table);
var outDir = Path.Combine(TestEnvironment.RepoRoot, "artifacts", "bench");
Directory.CreateDirectory(outDir);
await File.WriteAllTextAsync(Path.Combine(outDir, "publish.md"), table.ToString());
Console.WriteLine($"written to {Path.Combine(outDir, "publish.md")}");

Console.WriteLine();
Console.WriteLine("rollout engine alone, blue-green against an in-memory target:");
var engineTable = await EngineBench.RunAsync();
Console.WriteLine(engineTable);
await File.WriteAllTextAsync(Path.Combine(outDir, "engine.md"), engineTable);

Console.WriteLine();
Console.WriteLine("rollout on the local target:");
var localTable = await LocalBench.RunAsync(workspace, Math.Max(1, runs / 2));
Console.WriteLine(localTable);
await File.WriteAllTextAsync(Path.Combine(outDir, "local.md"), localTable);

Console.WriteLine();
Console.WriteLine("rollout on the Docker target (one real engine):");
var dockerTable = await DockerBench.RunAsync(workspace, bases, Math.Max(1, runs / 2));
Console.WriteLine(dockerTable);
await File.WriteAllTextAsync(Path.Combine(outDir, "docker.md"), dockerTable);

Console.WriteLine();
Console.WriteLine("rollout on the EC2 target (moto on loopback):");
var ec2Table = await Ec2Bench.RunAsync();
Console.WriteLine(ec2Table);
await File.WriteAllTextAsync(Path.Combine(outDir, "ec2.md"), ec2Table);
await bases.DisposeAsync();
return 0;
