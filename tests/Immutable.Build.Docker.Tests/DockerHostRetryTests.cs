using System.Threading.Channels;
using Immutable.Build.Targets;
using Microsoft.Extensions.Time.Testing;

namespace Immutable.Build.Docker.Tests;

/// <summary>
/// A host that does not answer a switch, removal or prune is tried again on <see cref="DockerTargetOptions.HostRetries"/>,
/// waiting on the options' clock; driven here by a fake clock against a loopback port nothing listens on.
/// </summary>
public sealed class DockerHostRetryTests
{
    private static readonly DeploymentScope Scope = new("retry-app", "prod");
    private static readonly Dictionary<string, int> AllToBlue = new(StringComparer.Ordinal) { ["blue"] = 100 };

    [Fact]
    public async Task An_unanswered_switch_is_tried_again_after_each_wait_of_the_schedule_then_fails_naming_the_host()
    {
        var ct = TestContext.Current.CancellationToken;
        var clock = new TimerRecordingClock();
        var lines = new List<string>();
        var host = $"tcp://127.0.0.1:{TestNetwork.FreePort()}";

        // Waits no real clock gets through in a test run: the switch can only finish on the fake clock.
        TimeSpan[] schedule = [TimeSpan.FromHours(1), TimeSpan.FromHours(2), TimeSpan.FromHours(4)];
        var target = new DockerTarget(Options(host, clock, schedule, lines));

        var route = target.RouteAsync(Scope, AllToBlue, ct);
        foreach (var expected in schedule)
        {
            var due = await clock.NextTimerAsync(ct);
            Assert.Equal(expected, due);
            Assert.False(route.IsCompleted);
            clock.Fake.Advance(due);
        }

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => route);
        Assert.Equal("IMB5003", e.Code);
        Assert.Contains(host, e.Message, StringComparison.Ordinal);
        lock (lines)
        {
            Assert.Equal(["3600s", "7200s", "14400s"], lines.Select(l => l[(l.LastIndexOf(' ') + 1)..].TrimEnd('.')));
            Assert.All(lines, l => Assert.StartsWith($"{host}: Docker host {host}: list containers failed", l, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Without_a_schedule_an_unanswered_removal_fails_at_once()
    {
        var ct = TestContext.Current.CancellationToken;
        var clock = new TimerRecordingClock();
        var lines = new List<string>();
        var target = new DockerTarget(Options($"tcp://127.0.0.1:{TestNetwork.FreePort()}", clock, [], lines));

        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => target.DecommissionAsync(Scope, "blue", TimeSpan.Zero, ct));

        Assert.Equal("IMB5003", e.Code);
        Assert.Empty(lines);
        Assert.False(clock.HasTimers);
    }

    private static DockerTargetOptions Options(string host, TimeProvider clock, IReadOnlyList<TimeSpan> retries, List<string> lines) => new()
    {
        Hosts = DockerHostEntry.ParseList(host, 8080, _ => null),
        ProxyAssembly = "no-proxy.dll",
        Time = clock,
        HostRetries = retries,
        Log = line =>
        {
            lock (lines)
            {
                lines.Add(line);
            }
        },
    };

    /// <summary>A fake clock that tells when a wait starts and how long it is, so a test advances it exactly once the wait is set.</summary>
    private sealed class TimerRecordingClock : TimeProvider
    {
        private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

        public FakeTimeProvider Fake { get; } = new();

        public bool HasTimers => _timers.Reader.Count > 0;

        public override TimeZoneInfo LocalTimeZone => Fake.LocalTimeZone;

        public override long TimestampFrequency => Fake.TimestampFrequency;

        public override DateTimeOffset GetUtcNow() => Fake.GetUtcNow();

        public override long GetTimestamp() => Fake.GetTimestamp();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = Fake.CreateTimer(callback, state, dueTime, period);
            _timers.Writer.TryWrite(dueTime);
            return timer;
        }

        public async Task<TimeSpan> NextTimerAsync(CancellationToken ct)
        {
            // A real bound only so that a broken retry fails the test instead of hanging it.
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
            bounded.CancelAfter(TimeSpan.FromMinutes(1));
            return await _timers.Reader.ReadAsync(bounded.Token);
        }
    }
}
