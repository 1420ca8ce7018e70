using Immutable.Build.Targets.Local;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Immutable.Build.Deployments;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;
using Immutable.Build.Testing;

/// <summary>
/// Blue-green rollout time on the local target for 1, 3 and 10 replicas (two releases deployed in
/// turn, so every rollout launches, gates, switches and decommissions), and the app's own start time.
/// </summary>
public static class LocalBench
{
    public static async Task<string> RunAsync(SampleWorkspace workspace, int rounds)
    {
        var state = TestEnvironment.NewWorkDir("bench-local-state");
        var port = TestNetwork.FreePort();
        var releases = await RolloutBench.PublishTwoReleasesAsync(workspace, "local", ["-p:ContainerBaseImage=scratch", "-p:ContainerRegistry="]);
        var host = RolloutBench.HostAssembly;
        var table = new StringBuilder();
        table.AppendLine("| replicas | blue-green rollout median s | per instance s |");
        table.AppendLine("| ---: | ---: | ---: |");
        try
        {
            foreach (var replicas in new[] { 1, 3, 10 })
            {
                var settings = new DeploymentSettings
                {
                    Target = "local",
                    App = "bench-" + replicas.ToString(CultureInfo.InvariantCulture),
                    StateDirectory = state,
                    TargetSettings = new Dictionary<string, string> { [LocalTargetProvider.PortProperty] = TestNetwork.FreePort().ToString(CultureInfo.InvariantCulture) },
                    LocalHostAssembly = host,
                    Rollout = new RolloutSettings { Strategy = "bluegreen", Replicas = replicas.ToString(CultureInfo.InvariantCulture) },
                };
                var median = await RolloutBench.MedianRolloutSecondsAsync(settings, releases, rounds);
                table.AppendLine(CultureInfo.InvariantCulture, $"| {replicas} | {median:F2} | {median / replicas:F2} |");
                Console.WriteLine($"local blue-green, {replicas} replicas: median {median:F2} s");
            }

            // The app alone: from process start to the first 200 on /healthz.
            var app = Directory.GetFiles(Path.Combine(state, "releases"), "HelloImmutable.dll", SearchOption.AllDirectories).First();
            var starts = new List<double>();
            for (var i = 0; i < 5; i++)
            {
                starts.Add(await AppStartSecondsAsync(app));
            }

            var startMedian = starts.Order().ElementAt(starts.Count / 2);
            table.AppendLine();
            table.AppendLine(CultureInfo.InvariantCulture, $"App start alone (process start to first healthy /healthz), median of 5: {startMedian:F2} s");
        }
        finally
        {
            await LocalHostControl.StopAsync(state);
        }

        return table.ToString();
    }

    private static async Task<double> AppStartSecondsAsync(string appDll)
    {
        var port = TestNetwork.FreePort();
        var info = new ProcessStartInfo("dotnet", [appDll]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(appDll)! };
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        info.Environment["ASPNETCORE_HTTP_PORTS"] = "";
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            while (watch.Elapsed < TimeSpan.FromSeconds(60))
            {
                try
                {
                    using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz"));
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        return watch.Elapsed.TotalSeconds;
                    }
                }
                catch (HttpRequestException)
                {
                }

                await Task.Delay(10);
            }

            throw new TimeoutException("the app did not become healthy");
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

}
