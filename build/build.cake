// The repository's own build: ./build.sh <target>. Targets: build, test, pack, demo, bench.
using System.Diagnostics;
using System.Xml.Linq;

var target = Argument("target", "build");
var configuration = Argument("configuration", "Release");

var root = MakeAbsolute(Directory("..")).FullPath;
var artifacts = $"{root}/artifacts";
var packagesDir = $"{artifacts}/packages";
var resultsDir = $"{artifacts}/test-results";
var solution = $"{root}/Immutable.Build.sln";
var infra = $"{root}/tests/infra";

// Every process a test run starts must be gone when it ends; MSBuild and compiler servers would
// outlive it, so they are turned off for everything this script runs.
Environment.SetEnvironmentVariable("MSBUILDDISABLENODEREUSE", "1");
Environment.SetEnvironmentVariable("DOTNET_CLI_USE_MSBUILD_SERVER", "0");
Environment.SetEnvironmentVariable("UseSharedCompilation", "false");
Environment.SetEnvironmentVariable("DOTNET_CLI_TELEMETRY_OPTOUT", "1");
Environment.SetEnvironmentVariable("DOTNET_NOLOGO", "1");
// Every process this run starts inherits this marker, daemons included, so the leftover check finds
// exactly them and nothing else running on the machine.
var runMarker = "IMMUTABLE_BUILD_RUN=" + Guid.NewGuid().ToString("N");
Environment.SetEnvironmentVariable("IMMUTABLE_BUILD_RUN", runMarker.Substring("IMMUTABLE_BUILD_RUN=".Length));

string Git(string arguments)
{
    var exit = StartProcess("git", new ProcessSettings { Arguments = arguments, WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true }, out var lines);
    return exit == 0 ? string.Join("\n", lines).Trim() : "";
}

// 0.1.0-dev.<commits>.g<sha>: ordered by history, names the commit, and a dirty tree is marked.
string PackageVersion()
{
    var count = Git("rev-list --count HEAD");
    var sha = Git("rev-parse --short=10 HEAD");
    if (count == "" || sha == "") return "0.1.0-dev.0.local";
    var dirty = Git("status --porcelain --untracked-files=normal") != "" ? ".dirty" : "";
    return $"0.1.0-dev.{count}.g{sha}{dirty}";
}

var version = PackageVersion();

int Run(string file, string arguments, string workingDirectory = null, IDictionary<string, string> env = null)
{
    var settings = new ProcessSettings { Arguments = arguments, WorkingDirectory = workingDirectory ?? root };
    if (env != null) settings.EnvironmentVariables = env;
    return StartProcess(file, settings);
}

void MustRun(string file, string arguments, string workingDirectory = null, IDictionary<string, string> env = null)
{
    var exit = Run(file, arguments, workingDirectory, env);
    if (exit != 0) throw new CakeException($"'{file} {arguments}' exited with {exit}");
}

Task("build")
    .Does(() =>
{
    MustRun("dotnet", $"build \"{solution}\" -c {configuration} -p:Version={version} -nologo");
});

Task("pack")
    .Does(() =>
{
    EnsureDirectoryExists(packagesDir);
    foreach (var old in GetFiles($"{packagesDir}/*.nupkg")) DeleteFile(old);
    // The MSBuild tasks run once per publish, so most of their cost is JIT: they ship ReadyToRun-compiled.
    var r2r = $"{artifacts}/obj/tasks-r2r/";
    if (DirectoryExists(r2r)) DeleteDirectory(r2r, new DeleteDirectorySettings { Recursive = true, Force = true });
    MustRun("dotnet", $"publish \"{root}/src/Immutable.Build.Tasks/Immutable.Build.Tasks.csproj\" -c {configuration} -r linux-x64 --self-contained false -p:PublishReadyToRun=true -p:Version={version} -o \"{r2r}\" -nologo");
    foreach (var project in new[] { "Immutable.Build.Tasks", "Immutable.Build.Cake", "Immutable.Build.Cli" })
    {
        MustRun("dotnet", $"pack \"{root}/src/{project}/{project}.csproj\" -c {configuration} -p:Version={version} -p:ImmutableTasksReadyToRunDir=\"{r2r}\" -o \"{packagesDir}\" -nologo");
    }
    // The samples keep their own packages folder: drop earlier extractions so the fresh pack is used.
    foreach (var stale in GetDirectories($"{artifacts}/sample-packages/immutable.build*")) DeleteDirectory(stale, new DeleteDirectorySettings { Recursive = true, Force = true });
    System.IO.File.WriteAllText($"{packagesDir}/version.txt", version + "\n");
    Information($"packed {version}:");
    foreach (var p in GetFiles($"{packagesDir}/*.nupkg")) Information($"  {p.GetFilename()}");
});

HashSet<int> LivePids() => new HashSet<int>(System.IO.Directory.GetDirectories("/proc")
    .Select(d => int.TryParse(System.IO.Path.GetFileName(d), out var pid) ? pid : -1).Where(pid => pid > 0));

bool StartedByThisRun(int pid)
{
    try { return System.IO.File.ReadAllText($"/proc/{pid}/environ").Split('\0').Contains(runMarker); } catch { return false; }
}

string CommandLine(int pid)
{
    try { return System.IO.File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim(); } catch { return ""; }
}

int ParentOf(int pid)
{
    try
    {
        var stat = System.IO.File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
        return int.Parse(fields[1]);
    }
    catch { return 0; }
}

Task("test")
    .IsDependentOn("pack")
    .Does(() =>
{
    EnsureDirectoryExists(resultsDir);
    CleanDirectory(resultsDir);
    MustRun("bash", $"\"{infra}/install.sh\"");
    MustRun("dotnet", $"build \"{solution}\" -c {configuration} -p:Version={version} -nologo");

    var runDir = $"{artifacts}/test-run";
    if (DirectoryExists(runDir)) DeleteDirectory(runDir, new DeleteDirectorySettings { Recursive = true, Force = true });
    EnsureDirectoryExists(runDir);
    var env = new Dictionary<string, string>
    {
        ["IMMUTABLE_REPO_ROOT"] = root,
        ["IMMUTABLE_PACKAGES_DIR"] = packagesDir,
        ["IMMUTABLE_PACKAGE_VERSION"] = version,
        ["IMMUTABLE_TEST_RUN_DIR"] = runDir,
    };

    int passed = 0, failed = 0, skipped = 0;
    var failures = new List<string>();
    var filter = Argument("filter", "");
    foreach (var project in GetFiles($"{root}/tests/*/*.Tests.csproj").OrderBy(p => p.FullPath))
    {
        var name = project.GetFilenameWithoutExtension().ToString();
        var dll = $"{project.GetDirectory().FullPath}/bin/{configuration}/net10.0/{name}.dll";
        var xml = $"{resultsDir}/{name}.xml";
        Information($"== {name}");
        var exit = Run("dotnet", $"\"{dll}\" -noLogo -maxThreads 2 -xml \"{xml}\" {filter}", env: env);
        if (!FileExists(xml))
        {
            failed++;
            failures.Add($"{name}: the test runner exited with {exit} and wrote no results");
            continue;
        }
        foreach (var assembly in XDocument.Load(xml).Descendants("assembly"))
        {
            int Attr(string n) => int.TryParse((string)assembly.Attribute(n), out var v) ? v : 0;
            passed += Attr("passed");
            failed += Attr("failed") + Attr("errors");
            skipped += Attr("skipped") + Attr("not-run");
        }
        if (exit != 0 && failures.Count == 0 && failed == 0)
        {
            failed++;
            failures.Add($"{name}: the test runner exited with {exit}");
        }
    }

    // Stop the infrastructure the fixtures started, then prove nothing the run started is left.
    Run("bash", $"\"{infra}/stop-all.sh\"");
    Run("dotnet", "build-server shutdown", env: null);
    System.Threading.Thread.Sleep(1000);
    var self = new HashSet<int>();
    for (var pid = Process.GetCurrentProcess().Id; pid > 1; pid = ParentOf(pid)) self.Add(pid);
    var left = LivePids().Where(pid => !self.Contains(pid) && StartedByThisRun(pid))
        .Select(pid => (pid, cmd: CommandLine(pid))).Where(p => p.cmd != "")
        .ToList();
    // Container processes do not inherit the marker; the infrastructure's own check finds those.
    if (Run("bash", $"\"{infra}/leftovers.sh\"") != 0) left.Add((0, "container or infrastructure processes (listed above by leftovers.sh)"));
    if (left.Count > 0)
    {
        failed++;
        failures.Add("processes started by the test run are still running:\n" + string.Join("\n", left.Select(p => $"    {p.pid} {p.cmd}")));
    }
    else
    {
        passed++;
        Information("no process started by the test run is left running");
    }

    foreach (var f in failures) Error(f);
    var totals = $"Tests: {passed} passed, {failed} failed, {skipped} skipped";
    System.IO.File.WriteAllText($"{resultsDir}/totals.txt", totals + "\n");
    Information(totals);
    if (failed > 0) throw new CakeException($"{failed} test(s) failed; results in {resultsDir}");
});

Task("demo")
    .IsDependentOn("pack")
    .Does(async () =>
{
    // The demo works on its own copy of the sample, in a git repository of its own, so it can commit changes.
    var demo = $"{artifacts}/demo";
    if (DirectoryExists(demo)) DeleteDirectory(demo, new DeleteDirectorySettings { Recursive = true, Force = true });
    EnsureDirectoryExists(demo);
    CopyDirectory($"{root}/samples/HelloImmutable", $"{demo}/HelloImmutable");
    CopyDirectory($"{root}/samples/HelloImmutable.Telemetry", $"{demo}/HelloImmutable.Telemetry");
    foreach (var d in GetDirectories($"{demo}/*/bin").Concat(GetDirectories($"{demo}/*/obj"))) DeleteDirectory(d, new DeleteDirectorySettings { Recursive = true, Force = true });
    System.IO.File.WriteAllText($"{demo}/Directory.Build.props", "<Project />\n");
    System.IO.File.WriteAllText($"{demo}/Directory.Packages.props", "<Project />\n");
    System.IO.File.WriteAllText($"{demo}/.gitignore", "bin/\nobj/\npackages/\nstate/\ncake/\ncake-addins/\n");
    System.IO.File.WriteAllText($"{demo}/NuGet.config", $"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <config><add key=\"globalPackagesFolder\" value=\"{demo}/packages\" /></config>\n  <packageSources><add key=\"immutable-local\" value=\"{packagesDir}\" /></packageSources>\n</configuration>\n");
    void DemoGit(string args) => MustRun("git", $"-c user.name=Demo -c user.email=demo@example.invalid -c commit.gpgsign=false {args}", demo);
    DemoGit("init -q -b main");
    DemoGit("add -A");
    DemoGit("commit -q -m v1");

    var state = $"{demo}/state";
    var port = Argument("demo-port", 5080);
    var proxy = new Uri($"http://127.0.0.1:{port}/");
    var cli = $"{root}/src/Immutable.Build.Cli/bin/{configuration}/net8.0/immutable.dll";
    MustRun("dotnet", $"build \"{root}/src/Immutable.Build.Cli\" -c {configuration} -nologo -v:q -p:Version={version}");
    var publish = $"publish \"{demo}/HelloImmutable\" -c Release -nologo -v:m -p:ContainerBaseImage=scratch -p:ImmutableTarget=local -p:ImmutableStateDir=\"{state}\" -p:ImmutableLocalPort={port} -p:ImmutableReplicas=2 -p:ImmutableStrategy=bluegreen";
    var release = $"{demo}/HelloImmutable/bin/Release/net10.0/immutable/release.json";
    try
    {
        Information($"== 1. publish v1 and deploy it locally: blue-green, 2 replicas, behind the proxy {proxy}");
        MustRun("dotnet", publish);
        ShowRelease(release);
        Information($"   {proxy} says: {(await new System.Net.Http.HttpClient().GetStringAsync(proxy)).Trim()}");

        Information("== 1b. publish again with nothing changed: the same digest, the tag is adopted, no image work");
        MustRun("dotnet", publish.Replace("-p:ImmutableTarget=local", "-p:ImmutableTarget=none"));
        ShowRelease(release);

        Information("== 2. change the greeting, commit, and deploy v2 while a request loop hits the proxy");
        var greeting = $"{demo}/HelloImmutable/Greeting.cs";
        System.IO.File.WriteAllText(greeting, System.IO.File.ReadAllText(greeting).Replace("Hello from an immutable release", "Hello from v2, deployed without downtime"));
        DemoGit("commit -q -am v2");
        var loop = RequestLoop(proxy);
        MustRun("dotnet", publish);
        var counts = await loop.Stop();
        Information($"   request loop: {counts.Ok} answered, {counts.Failed} failed; answers by release: {string.Join(", ", counts.ByRelease.Select(kv => $"{kv.Key} x{kv.Value}"))}");
        if (counts.Failed > 0) throw new CakeException($"{counts.Failed} requests failed during the blue-green switch");

        Information("== 3. roll back to v1 (by digest, from the ledger)");
        MustRun("dotnet", $"\"{cli}\" rollback --app hello-immutable --state-dir \"{state}\" --local-port {port}");
        Information($"   {proxy} says: {(await new System.Net.Http.HttpClient().GetStringAsync(proxy)).Trim()}");

        Information("== 4. the same from a Cake script: samples/cake/build.cake with the Immutable.Build.Cake addin just packed");
        Information("   it bakes v3 (ImmutableBake), rolls it out (ImmutableRollout), smoke-tests it, then rolls back (ImmutableRollback)");
        System.IO.File.WriteAllText(greeting, System.IO.File.ReadAllText(greeting).Replace("Hello from v2, deployed without downtime", "Hello from v3, baked by Cake"));
        DemoGit("commit -q -am v3");
        var cakeScript = $"{demo}/cake/build.cake";
        EnsureDirectoryExists($"{demo}/cake");
        System.IO.File.WriteAllText(cakeScript, System.IO.File.ReadAllText($"{root}/samples/cake/build.cake").Replace("&prerelease", $"&version={version}"));
        var cakeArgs = $"--project=\"{demo}/HelloImmutable/HelloImmutable.csproj\" --state=\"{state}\" --port={port} --nuget_source=\"{packagesDir}\" --paths_addins=\"{demo}/cake-addins\"";
        MustRun("dotnet", $"cake \"{cakeScript}\" --target=Smoke {cakeArgs}", root);
        Information($"   {proxy} says: {(await new System.Net.Http.HttpClient().GetStringAsync(proxy)).Trim()}");
        MustRun("dotnet", $"cake \"{cakeScript}\" --target=Rollback {cakeArgs}", root);
        Information($"   {proxy} says: {(await new System.Net.Http.HttpClient().GetStringAsync(proxy)).Trim()}");

        Information("== 5. status and history");
        MustRun("dotnet", $"\"{cli}\" status --app hello-immutable --state-dir \"{state}\" --local-port {port}");
        MustRun("dotnet", $"\"{cli}\" history --app hello-immutable --state-dir \"{state}\"");
    }
    finally
    {
        Information("== 6. stop everything");
        Run("dotnet", $"\"{cli}\" local stop --state-dir \"{state}\"");
    }
});

sealed class LoopCounts
{
    public int Ok;
    public int Failed;
    public Dictionary<string, int> ByRelease = new();
}

sealed class RunningLoop
{
    public System.Threading.CancellationTokenSource Cancel = new();
    public System.Threading.Tasks.Task<LoopCounts> Task;
    public async System.Threading.Tasks.Task<LoopCounts> Stop() { Cancel.Cancel(); return await Task; }
}

// Sequential GETs against the proxy until stopped, bounded to 10 minutes; counts failures and which release answered.
RunningLoop RequestLoop(Uri url)
{
    var loop = new RunningLoop();
    loop.Task = System.Threading.Tasks.Task.Run(async () =>
    {
        var counts = new LoopCounts();
        using var http = new System.Net.Http.HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var until = DateTime.UtcNow.AddMinutes(10);
        while (!loop.Cancel.IsCancellationRequested && DateTime.UtcNow < until)
        {
            try
            {
                var text = await http.GetStringAsync(url);
                counts.Ok++;
                var release = System.Text.RegularExpressions.Regex.Match(text, @"release ([0-9a-f]{12}[^,)]*)").Groups[1].Value;
                counts.ByRelease[release] = counts.ByRelease.TryGetValue(release, out var n) ? n + 1 : 1;
            }
            catch (Exception) when (!loop.Cancel.IsCancellationRequested)
            {
                counts.Failed++;
            }
            await System.Threading.Tasks.Task.Delay(20);
        }
        return counts;
    });
    return loop;
}

void ShowRelease(string path)
{
    using var doc = System.Text.Json.JsonDocument.Parse(System.IO.File.ReadAllText(path));
    var r = doc.RootElement;
    var image = r.GetProperty("image");
    Information($"   release   {r.GetProperty("releaseId").GetString()}  (app {r.GetProperty("app").GetString()}, commit {r.GetProperty("source").GetProperty("shortCommit").GetString()}{(r.GetProperty("source").GetProperty("dirty").GetBoolean() ? ", dirty tree" : "")})");
    Information($"   digest    {image.GetProperty("digest").GetString()}");
    Information($"   reference {image.GetProperty("reference").GetString()}");
    Information($"   tags      {string.Join(", ", image.GetProperty("tags").EnumerateArray().Select(t => t.GetString()))}");
    foreach (var layer in image.GetProperty("layers").EnumerateArray())
    {
        Information($"   layer     {layer.GetProperty("name").GetString(),-20} {layer.GetProperty("size").GetInt64(),10:N0} bytes  {layer.GetProperty("digest").GetString()}");
    }
    Information($"   manifest  {path}");
}

Task("bench")
    .IsDependentOn("pack")
    .Does(() =>
{
    MustRun("bash", $"\"{infra}/install.sh\"");
    var env = new Dictionary<string, string> { ["IMMUTABLE_REPO_ROOT"] = root, ["IMMUTABLE_PACKAGES_DIR"] = packagesDir, ["IMMUTABLE_PACKAGE_VERSION"] = version, ["IMMUTABLE_TEST_RUN_DIR"] = $"{artifacts}/bench-run" };
    try
    {
        MustRun("dotnet", $"run --project \"{root}/tests/Immutable.Build.Benchmarks\" -c Release", env: env);
    }
    finally
    {
        Run("bash", $"\"{infra}/stop-all.sh\"");
    }
});

RunTarget(target);
