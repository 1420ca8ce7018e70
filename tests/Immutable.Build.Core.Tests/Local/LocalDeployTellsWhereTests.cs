using Immutable.Build.Rollout;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>After a local deploy the user is told the proxy's URL and where the instance logs are, at the level they read.</summary>
[Collection(LocalTargetCollection.Name)]
public sealed class LocalDeployTellsWhereTests(SampleReleaseFixture sample) : LocalTargetTestBase(sample)
{
    [Fact(Timeout = 180_000)]
    public async Task A_successful_deploy_logs_the_proxy_url_and_the_instance_log_folder()
    {
        var ct = TestContext.Current.CancellationToken;
        var info = new List<string>();
        var engine = new RolloutEngine(Target, new RolloutEngineOptions
        {
            StateDirectory = StateDirectory,
            StartTimeout = TimeSpan.FromSeconds(60),
            Drain = TimeSpan.Zero,
            GetEnvironmentVariable = _ => null,
            Log = new ReleaseLog(l => { lock (info) { info.Add(l); } }, _ => { }, (_, _) => { }),
        });

        var result = await engine.DeployAsync(Scope, Sample.Release, RolloutStrategy.BlueGreen(1), ct);

        Assert.True(result.Succeeded, result.Reason);
        var proxy = await ProxyAsync();
        Assert.Matches(@"^http://127\.0\.0\.1:\d+/$", proxy.ToString());
        Assert.Contains($"{Scope.App} in {Scope.Environment} answers at {proxy}", info);
        var logs = Path.Combine(StateDirectory, "logs", Scope.Key);
        Assert.Contains($"instance logs: {logs}", info);
        Assert.NotEmpty(Directory.GetFiles(logs, "*.log"));
    }
}
