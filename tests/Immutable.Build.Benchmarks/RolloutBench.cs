using System.Diagnostics;
using Immutable.Build;
using Immutable.Build.Deployments;
using Immutable.Build.Releases;
using Immutable.Build.Targets;
using Immutable.Build.Testing;

/// <summary>What the rollout benches share: two releases to alternate, and the median time of a blue-green between them.</summary>
internal static class RolloutBench
{
    /// <summary>The local host (and the Docker target's proxy) of the Release build.</summary>
    public static string HostAssembly => Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.LocalHost", "bin", "Release", "net8.0", "Immutable.Build.LocalHost.dll");

    /// <summary>Publishes two releases of the sample (two commits) with the given arguments.</summary>
    public static async Task<List<ReleaseRef>> PublishTwoReleasesAsync(SampleWorkspace workspace, string bench, IEnumerable<string> arguments)
    {
        var releases = new List<ReleaseRef>();
        for (var i = 0; i < 2; i++)
        {
            await File.AppendAllTextAsync(Path.Combine(workspace.ProjectDir, "Greeting.cs"), $"// {bench} bench release {i}\n");
            await workspace.CommitAllAsync($"{bench} bench {i}");
            var publish = await workspace.PublishWithResultsAsync(arguments, ["ImmutableReleaseManifest"]);
            publish.Process.EnsureSuccess($"publish for the {bench} bench");
            releases.Add(Deployer.ReleaseFrom(ReleaseManifestFile.Read(publish["ImmutableReleaseManifest"]), publish["ImmutableReleaseManifest"]));
        }

        return releases;
    }

    /// <summary>Deploys the releases in turn <paramref name="rounds"/> + 1 times; the median seconds, the first deploy (nothing to replace) left out.</summary>
    public static async Task<double> MedianRolloutSecondsAsync(DeploymentSettings settings, IReadOnlyList<ReleaseRef> releases, int rounds)
    {
        var times = new List<double>();
        for (var round = 0; round <= rounds; round++)
        {
            var watch = Stopwatch.StartNew();
            var result = await Deployer.DeployAsync(settings.ToOptions(), releases[round % releases.Count], ReleaseLog.None, CancellationToken.None);
            watch.Stop();
            result.ThrowIfNotSucceeded();
            if (round > 0)
            {
                times.Add(watch.Elapsed.TotalSeconds);
            }
        }

        return times.Order().ElementAt(times.Count / 2);
    }
}
