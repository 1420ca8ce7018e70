using Immutable.Build.Rollout;
using Immutable.Build.Targets;
using Microsoft.Extensions.Time.Testing;
using static Immutable.Build.Core.Tests.Rollout.RolloutTestKit;

namespace Immutable.Build.Core.Tests.Rollout;

/// <summary>The HTTP and release-identity gates against a real loopback HTTP server, alone and inside rollouts.</summary>
public sealed class HttpGateTests : IDisposable
{
    private readonly InstanceServer _server = new();
    private readonly string _dir = TestEnvironment.NewWorkDir("rollout-http");

    public void Dispose()
    {
        _server.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly HttpGateOptions Fast = new() { ConsecutiveSuccesses = 3, Interval = TimeSpan.FromMilliseconds(20), Timeout = TimeSpan.FromMilliseconds(600), RequestTimeout = TimeSpan.FromSeconds(2) };

    /// <summary><see cref="Fast"/> for a fake clock: a request never times out on it, so a slow loopback answer cannot turn into "timed out" while the test moves the clock.</summary>
    private static readonly HttpGateOptions FakeClocked = Fast with { RequestTimeout = TimeSpan.FromHours(1) };

    private GateContext Context(string release, int instances, string? addressOverride = null, TimeProvider? time = null) => new(
        new DeploymentScope("hello", "test"),
        Release(release),
        "r1-" + release,
        Enumerable.Range(0, instances).Select(n => new InstanceInfo($"i{n}", new DeploymentScope("hello", "test"), release, Release(release).ImageDigest, "r1-" + release, new Uri(addressOverride ?? $"http://127.0.0.1:{_server.Port}/i/{release}/{n}/"), "running")).ToList(),
        TimeSpan.Zero,
        time ?? TimeProvider.System);

    [Fact]
    public async Task Every_instance_must_answer_healthy_several_times_in_a_row()
    {
        var result = await new HttpGate(Fast).EvaluateAsync(Context("v1", 3), Ct);
        Assert.True(result.Passed, result.Detail);
        Assert.True(_server.Requests >= 9, _server.Requests.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("3 instance(s) answered 200 3x in a row", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_status_or_a_dead_port_fails_after_the_timeout()
    {
        _server.HealthStatus["v2"] = 503;
        var time = new FakeTimeProvider();
        var started = time.GetUtcNow();
        var evaluation = new HttpGate(FakeClocked).EvaluateAsync(Context("v2", 2, time: time), Ct);
        await AdvanceAsync(time, FakeClocked.Timeout - FakeClocked.Interval, FakeClocked.Interval);
        Assert.False(evaluation.IsCompleted);
        var bad = await DriveAsync(time, evaluation, FakeClocked.Interval);
        Assert.Equal(GateVerdict.Failed, bad.Verdict);
        Assert.Contains("answered 503", bad.Detail, StringComparison.Ordinal);
        Assert.Contains("within 0.6s (ImmutableHealthTimeout)", bad.Detail, StringComparison.Ordinal);
        Assert.True(time.GetUtcNow() - started >= TimeSpan.FromMilliseconds(500));

        var dead = await DriveAsync(time, new HttpGate(FakeClocked).EvaluateAsync(Context("v3", 1, $"http://127.0.0.1:{FreePort()}/", time), Ct), FakeClocked.Interval);
        Assert.Equal(GateVerdict.Failed, dead.Verdict);
        Assert.Equal("IMB6009", Assert.Throws<ImmutableBuildException>(() => new HttpGate(new HttpGateOptions { Path = "healthz" })).Code);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_404_fails_at_once_naming_ImmutableHealthPath_and_no_clock_time_passes()
    {
        var time = new FakeTimeProvider();
        var started = time.GetUtcNow();

        // Nothing moves the fake clock: only a gate that stops at the first 404 completes.
        var ct = TestContext.Current.CancellationToken;
        var missing = await new HttpGate(FakeClocked with { Path = "/healthz-missing" }).EvaluateAsync(Context("v1", 2, time: time), ct).WaitAsync(TimeSpan.FromSeconds(10), ct);

        Assert.Equal(GateVerdict.Failed, missing.Verdict);
        Assert.Contains("answered 404", missing.Detail, StringComparison.Ordinal);
        Assert.Contains("set ImmutableHealthPath", missing.Detail, StringComparison.Ordinal);
        Assert.Equal(started, time.GetUtcNow());

        // Where the app's health endpoint is, the same instances pass.
        _server.HealthPaths.Add("health");
        Assert.True((await new HttpGate(Fast with { Path = "/health" }).EvaluateAsync(Context("v1", 2), ct)).Passed);
    }

    [Fact]
    public async Task The_release_identity_gate_needs_the_rolled_out_release_id_from_every_instance()
    {
        var options = new ReleaseIdentityGateOptions { Timeout = TimeSpan.FromSeconds(1), Interval = TimeSpan.FromMilliseconds(20) };
        Assert.True((await new ReleaseIdentityGate(options).EvaluateAsync(Context("v1", 2), Ct)).Passed);

        _server.ReportedRelease["v2"] = "v1";
        var stale = await new ReleaseIdentityGate(options).EvaluateAsync(Context("v2", 2), Ct);
        Assert.Equal(GateVerdict.Failed, stale.Verdict);
        Assert.Contains("reports release 'v1', expected 'v2'", stale.Detail, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Auto_skips_the_release_identity_gate_with_IMB6020_when_no_instance_has_version_and_fails_a_mix()
    {
        var ct = TestContext.Current.CancellationToken;
        _server.WithoutVersion.Add("v5");
        var time = new FakeTimeProvider();

        // No clock time passes: a 404 is an answer, not a reason to wait.
        var skipped = await new ReleaseIdentityGate().EvaluateAsync(Context("v5", 2, time: time), ct).WaitAsync(TimeSpan.FromSeconds(10), ct);
        Assert.Equal(GateVerdict.Passed, skipped.Verdict);
        Assert.Equal("IMB6020", skipped.Warning?.Code);
        Assert.Contains("ImmutableCheckReleaseIdentity=false", skipped.Warning!.Message, StringComparison.Ordinal);

        var required = await new ReleaseIdentityGate(new ReleaseIdentityGateOptions { Required = true }).EvaluateAsync(Context("v5", 1, time: time), ct).WaitAsync(TimeSpan.FromSeconds(10), ct);
        Assert.Equal(GateVerdict.Failed, required.Verdict);
        Assert.Contains("ImmutableCheckReleaseIdentity=true needs /version", required.Detail, StringComparison.Ordinal);

        // One instance reports the release and one has no /version: they run different things.
        _server.ReportedRelease["v6"] = "v5";
        var mixed = Context("v5", 1, time: time);
        mixed = mixed with { Instances = [.. mixed.Instances, mixed.Instances[0] with { Id = "i1", Address = new Uri($"http://127.0.0.1:{_server.Port}/i/v6/0/") }] };
        var mix = await new ReleaseIdentityGate().EvaluateAsync(mixed, ct).WaitAsync(TimeSpan.FromSeconds(10), ct);
        Assert.Equal(GateVerdict.Failed, mix.Verdict);
        Assert.StartsWith("i0: http://127.0.0.1:", mix.Detail, StringComparison.Ordinal);
        Assert.Null(mix.Warning);
    }

    [Fact]
    public async Task The_release_identity_gate_waits_for_an_instance_that_does_not_answer_until_its_timeout()
    {
        var options = new ReleaseIdentityGateOptions { Timeout = TimeSpan.FromSeconds(1), Interval = TimeSpan.FromMilliseconds(20), RequestTimeout = TimeSpan.FromHours(1) };
        var time = new FakeTimeProvider();
        var started = time.GetUtcNow();
        var evaluation = new ReleaseIdentityGate(options).EvaluateAsync(Context("v4", 1, $"http://127.0.0.1:{FreePort()}/", time), Ct);
        await AdvanceAsync(time, options.Timeout - options.Interval, options.Interval);
        Assert.False(evaluation.IsCompleted);

        var silent = await DriveAsync(time, evaluation, options.Interval);
        Assert.Equal(GateVerdict.Failed, silent.Verdict);
        Assert.StartsWith("i0: no answer within 1s; last: http://127.0.0.1:", silent.Detail, StringComparison.Ordinal);
        Assert.EndsWith("(ImmutableCheckReleaseIdentity=false turns this check off)", silent.Detail, StringComparison.Ordinal);
        Assert.True(time.GetUtcNow() - started >= options.Timeout);
    }

    [Fact]
    public async Task A_blue_green_rollout_whose_healthz_fails_is_rolled_back_before_any_traffic()
    {
        var target = new InMemoryTarget(_server.AddressFor);
        var scope = Scope();
        var engine = new RolloutEngine(target, Options(_dir) with { HealthGates = [new HttpGate(Fast), new ReleaseIdentityGate()] });
        var v1 = await engine.DeployAsync(scope, Release("v1"), RolloutStrategy.BlueGreen(2), Ct);
        Assert.True(v1.Succeeded, v1.Reason);
        Assert.Equal(["http /healthz", "release identity /version"], v1.Gates.Select(g => g.Gate));

        _server.HealthStatus["v2"] = 503;
        var v2 = await engine.DeployAsync(scope, Release("v2"), RolloutStrategy.BlueGreen(2), Ct);

        Assert.Equal(RolloutOutcomes.RolledBack, v2.Outcome);
        Assert.Contains("health gate 'http /healthz' failed on r2-v2", v2.Reason, StringComparison.Ordinal);
        Assert.All(target.RouteHistory(scope), r => Assert.Equal(0, r.GetValueOrDefault("r2-v2")));
        Assert.Equal("r1-v1", await AssertServesAsync(target, scope, Release("v1")));
        Assert.Equal(RolloutOutcomes.RolledBack, (await engine.HistoryAsync(scope, Ct))[^1].Outcome);
    }
}
