// A complete release pipeline with the Immutable.Build Cake addin: bake the app into an immutable release, roll it
// out to the local target (blue-green, 2 replicas), smoke-test it through the proxy, and roll back if that fails.
//
//   dotnet cake samples/cake/build.cake                          bake, roll out, smoke test (default target: Smoke)
//   dotnet cake samples/cake/build.cake --target=Rollback        back to the previous release, by digest
//   dotnet cake samples/cake/build.cake --target=Status          what runs, and drift
//
// Arguments: --project (default ../HelloImmutable/HelloImmutable.csproj), --port (the local proxy, default 5080),
// --state (the state directory; default $IMMUTABLE_STATE_DIR or ~/.local/state/immutable-build).
// The addin comes from NuGet; pin it with &version=... (a local feed works too: --nuget_source=<folder>).
#addin nuget:?package=Immutable.Build.Cake&prerelease

var target = Argument("target", "Smoke");
var project = Argument("project", "../HelloImmutable/HelloImmutable.csproj");
var port = Argument("port", 5080);
var state = Argument<string>("state", null);
var app = Argument("app", "hello-immutable");

ImmutableRelease release = null;

ImmutableRolloutSettings Rollout() => new ImmutableRolloutSettings
{
    Target = "local",
    LocalPort = port,
    StateDirectory = state,
    Strategy = "bluegreen",
    Replicas = 2,
};

Task("Bake")
    .Does(() =>
{
    // dotnet publish with the package's properties: the release id, digest and tags come from the commit.
    release = ImmutableBake(project, new ImmutableBakeSettings { Configuration = "Release" });
    Information($"release {release.Id} digest {release.Digest} manifest {release.ManifestPath}");
});

Task("Deploy")
    .IsDependentOn("Bake")
    .Does(() =>
{
    // Replaces the running instances; a failed health gate rolls back by itself and fails this task (IMB6005).
    var result = ImmutableRollout(release, Rollout());
    Information($"rollout {result.RolloutId}: {result.Outcome} in {result.Duration.TotalSeconds:F1} s");
});

Task("Smoke")
    .IsDependentOn("Deploy")
    .Does(async () =>
{
    using var http = new System.Net.Http.HttpClient { Timeout = TimeSpan.FromSeconds(10) };
    var answer = await http.GetStringAsync($"http://127.0.0.1:{port}/");
    if (!answer.Contains(release.Id))
    {
        throw new CakeException($"the proxy answered '{answer.Trim()}', not release {release.Id}");
    }

    Information($"smoke test passed: {answer.Trim()}");
})
    .OnError(exception =>
{
    // The release passed its gates but not our own check: put the previous release back, by digest.
    Warning($"smoke test failed ({exception.Message}); rolling back");
    ImmutableRollback(new ImmutableRollbackSettings { App = release.App, LocalPort = port, StateDirectory = state });
    throw exception;
});

Task("Rollback")
    .Does(() =>
{
    var result = ImmutableRollback(new ImmutableRollbackSettings { App = app, LocalPort = port, StateDirectory = state });
    Information($"rolled back to {result.Release.ReleaseId}: {result.Outcome}");
});

Task("Status")
    .Does(() =>
{
    var status = ImmutableStatus(new ImmutableStatusSettings { App = app, LocalPort = port, StateDirectory = state });
    Information($"current release {status.Current?.ReleaseId ?? "none"}; {(status.InSync ? "in sync" : $"{status.Drift.Count} drift item(s)")}");
    foreach (var group in status.Groups)
    {
        Information($"  {group.Group}: release {group.ReleaseId}, weight {group.Weight}%, {group.Instances.Count} instance(s)");
    }
});

RunTarget(target);
