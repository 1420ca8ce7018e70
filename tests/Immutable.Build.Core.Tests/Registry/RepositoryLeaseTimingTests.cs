using Immutable.Build.Registry;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>The lease's settle time: never below its floor, scaled by the publisher's own read-to-write time, capped.</summary>
public sealed class RepositoryLeaseTimingTests
{
    [Theory]
    [InlineData(2, 150)] // a loopback registry: the floor
    [InlineData(37.5, 150)] // 4x is the floor exactly
    [InlineData(60, 240)] // a registry across a network: 4x its read-to-write time
    [InlineData(400, 1600)]
    [InlineData(900, 2000)] // capped
    [InlineData(1e9, 2000)] // however long
    public void The_settle_is_four_times_the_read_to_write_time_between_the_floor_and_the_cap(double readToWriteMs, double settleMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(settleMs), RepositoryLeaseTiming.Default.SettleFor(TimeSpan.FromMilliseconds(readToWriteMs)));

    [Fact]
    public void A_floor_above_the_cap_wins()
    {
        var timing = RepositoryLeaseTiming.Default with { Settle = TimeSpan.FromSeconds(5) };
        Assert.Equal(TimeSpan.FromSeconds(5), timing.SettleFor(TimeSpan.FromSeconds(10)));
        Assert.Equal(TimeSpan.FromSeconds(5), timing.SettleFor(TimeSpan.Zero));
    }
}
