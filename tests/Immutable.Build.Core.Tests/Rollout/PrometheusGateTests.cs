using Immutable.Build.Rollout;
using Immutable.Build.Targets;
using static Immutable.Build.Core.Tests.Rollout.RolloutTestKit;

namespace Immutable.Build.Core.Tests.Rollout;

/// <summary>
/// The Prometheus gate against a real Prometheus scraping counters the test drives: requests and 5xx errors per
/// release, as the sample app exports them. A canary whose error ratio crosses 5% is aborted and rolled back.
/// </summary>
public sealed class PrometheusGateTests(PrometheusFixture prometheus) : IClassFixture<PrometheusFixture>, IDisposable
{
    private const string Ratio = "sum(rate(app_errors_total{release=\"{release}\"}[3s])) / sum(rate(app_requests_total{release=\"{release}\"}[3s]))";
    private readonly string _dir = TestEnvironment.NewWorkDir("rollout-prometheus");
    private readonly string _run = Guid.NewGuid().ToString("N")[..6];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Id(string v) => $"{v}-{_run}";

    /// <summary>Drives the counters: 50 requests a second per release, the given share of them errors.</summary>
    private async Task TrafficAsync(IReadOnlyDictionary<string, double> errorRatio, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            foreach (var (release, ratio) in errorRatio)
            {
                prometheus.Add($"app_requests_total{{release=\"{release}\"}}", 10);
                prometheus.Add($"app_errors_total{{release=\"{release}\"}}", 10 * ratio);
            }

            try
            {
                await Task.Delay(200, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private PrometheusGate Gate(string query = Ratio, bool passWhenNoData = false) => new(new PrometheusGateOptions
    {
        Server = prometheus.Url,
        Query = query,
        Condition = "< 0.05",
        Interval = TimeSpan.FromMilliseconds(500),
        PassWhenNoData = passWhenNoData,
    });

    [Fact]
    public async Task A_canary_whose_error_ratio_crosses_the_threshold_is_aborted_and_rolled_back()
    {
        prometheus.Require();
        var ct = TestContext.Current.CancellationToken;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var traffic = TrafficAsync(new Dictionary<string, double> { [Id("v1")] = 0.0, [Id("v2")] = 0.2 }, stop.Token);
        await Task.Delay(TimeSpan.FromSeconds(3), ct); // two scrapes, so rate() has samples
        var target = new InMemoryTarget();
        var scope = Scope();
        var log = new List<string>();
        var engine = new RolloutEngine(target, Options(_dir, log) with { AnalysisGates = [Gate()] });
        try
        {
            var v1 = await engine.DeployAsync(scope, Release(Id("v1")), RolloutStrategy.Canary(2, [50, 100], analysisWindow: TimeSpan.FromSeconds(2)), ct);
            Assert.True(v1.Succeeded, v1.Reason);
            Assert.All(v1.Gates, g => Assert.Contains("evaluation(s) < 0.05 (values: 0", g.Detail, StringComparison.Ordinal));

            var v2 = await engine.DeployAsync(scope, Release(Id("v2")), RolloutStrategy.Canary(2, [10, 50, 100], analysisWindow: TimeSpan.FromSeconds(3)), ct);

            Assert.Equal(RolloutOutcomes.RolledBack, v2.Outcome);
            Assert.Contains("analysis gate 'prometheus < 0.05' failed", v2.Reason, StringComparison.Ordinal);
            Assert.Contains("which is not < 0.05", v2.Reason, StringComparison.Ordinal);
            // Aborted at the first step: the canary never got more than 10%.
            var routes = target.RouteHistory(scope);
            Assert.Equal(10, routes.Max(r => r.GetValueOrDefault(v2.Groups[0])));
            Assert.Equal(100, routes[^1][v1.Groups[0]]);
            Assert.Equal(v1.Groups[0], await AssertServesAsync(target, scope, Release(Id("v1"))));
            var last = (await engine.HistoryAsync(scope, ct))[^1];
            Assert.Equal((RolloutOutcomes.RolledBack, Id("v1")), (last.Outcome, last.Current!.ReleaseId));
        }
        finally
        {
            await stop.CancelAsync();
            await traffic;
        }
    }

    [Fact]
    public async Task No_data_over_the_window_is_inconclusive_and_fails_unless_allowed()
    {
        prometheus.Require();
        var ct = TestContext.Current.CancellationToken;
        var context = new GateContext(new DeploymentScope("hello", "test"), Release(Id("silent")), "r1", [], TimeSpan.FromSeconds(1), TimeProvider.System);

        var strict = await Gate().EvaluateAsync(context, ct);
        Assert.Equal(GateVerdict.Inconclusive, strict.Verdict);
        Assert.Contains($"release=\"{Id("silent")}\"", strict.Detail, StringComparison.Ordinal);
        Assert.True((await Gate(passWhenNoData: true).EvaluateAsync(context, ct)).Passed);
    }

    [Fact]
    public async Task A_query_prometheus_rejects_fails_with_its_error()
    {
        prometheus.Require();
        var context = new GateContext(new DeploymentScope("hello", "test"), Release("x"), "r1", [], TimeSpan.Zero, TimeProvider.System);
        var result = await Gate("sum(rate(app_requests_total[", passWhenNoData: true).EvaluateAsync(context, TestContext.Current.CancellationToken);
        Assert.Equal(GateVerdict.Failed, result.Verdict);
        Assert.Contains("IMB6010", result.Detail, StringComparison.Ordinal);
        Assert.Equal("IMB6009", Assert.Throws<ImmutableBuildException>(() => new PrometheusGate(new PrometheusGateOptions { Server = prometheus.Url, Query = "up", Condition = "below 1" })).Code);
    }
}
