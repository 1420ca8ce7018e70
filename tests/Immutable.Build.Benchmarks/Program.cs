using System.Globalization;
using System.Text;
using Immutable.Build.Testing;

// Each scenario is real `dotnet publish`es of the sample in pairs against the publish it must beat (PublishBench):
// the figure is the median of the pairs' ratios, held against its target. BENCH_RUNS sets the pairs (default 7).
// BENCH_ONLY=ec2 runs the EC2 rollout bench alone (it needs moto, not the registry), BENCH_ONLY=engine the rollout
// engine alone, BENCH_ONLY=publish the publish scenarios alone, BENCH_ONLY=big the 1 GiB app alone (BENCH_BIG_PAIRS
// pairs, 3 by default).
if (Environment.GetEnvironmentVariable("BENCH_ONLY") == "ec2")
{
    Console.WriteLine(await Ec2Bench.RunAsync());
    return 0;
}

if (Environment.GetEnvironmentVariable("BENCH_ONLY") == "engine")
{
    Console.WriteLine(await EngineBench.RunAsync());
    return 0;
}

var runs = int.TryParse(Environment.GetEnvironmentVariable("BENCH_RUNS"), out var r) && r > 0 ? r : 7;
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

var bigPairs = int.TryParse(Environment.GetEnvironmentVariable("BENCH_BIG_PAIRS"), out var bp) && bp > 0 ? bp : 3;
var outDir = Path.Combine(TestEnvironment.RepoRoot, "artifacts", "bench");
Directory.CreateDirectory(outDir);
async Task BigAppAsync()
{
    Console.WriteLine();
    Console.WriteLine("an app with a 1 GiB incompressible file, against the SDK's PublishContainer:");
    var bigTable = await BigAppBench.RunAsync(workspace, bases, bigPairs);
    Console.WriteLine(bigTable);
    await File.WriteAllTextAsync(Path.Combine(outDir, "big-app.md"), bigTable);
}

if (Environment.GetEnvironmentVariable("BENCH_ONLY") == "big")
{
    await BigAppAsync();
    await bases.DisposeAsync();
    return 0;
}

var bench = new PublishBench(workspace, env, runs);
Console.WriteLine($"sample: {workspace.ProjectDir}; registry {registry}; base {bases.Busybox}; {runs} pairs each after a warm-up pair");
// Nothing changed since the last publish: against the same no-op publish without the package's work.
await bench.CompareAsync("no-op rerun",
    new("plain publish", () => ["-p:ImmutableEnabled=false"]),
    new("immutable", () => Immutable($"{repo}-imm")),
    target: 1.03);
// A one-line change, committed before each run: against the SDK's container publish of the same change.
await bench.CompareAsync("one-line change",
    new("sdk PublishContainer", () => SdkContainer($"{repo}-sdk", $"c{edits}"), ChangeAndCommit),
    new("immutable", () => Immutable($"{repo}-imm"), ChangeAndCommit),
    target: 0.9);
// Warm build caches, but the image built and pushed in full: a new repository, no layer cache.
await bench.CompareAsync("full bake and push",
    new("sdk PublishContainer", () => SdkContainer($"{repo}-sdk-{++fresh}", "warm")),
    new("immutable", () => Immutable($"{repo}-imm-{++fresh}"), ForgetImmutableState),
    target: 0.9);

var publishTable = bench.Table();
Console.WriteLine();
Console.WriteLine(publishTable);
await File.WriteAllTextAsync(Path.Combine(outDir, "publish.md"), publishTable);
Console.WriteLine($"written to {Path.Combine(outDir, "publish.md")}");
if (Environment.GetEnvironmentVariable("BENCH_ONLY") == "publish")
{
    await bases.DisposeAsync();
    return 0;
}

await BigAppAsync();

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
