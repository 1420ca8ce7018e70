using Immutable.Build.Targets.Local;
using Immutable.Build.Images;
using Microsoft.Extensions.Time.Testing;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>The state directory's unpacked releases and the group-name rule, without a host or a published release.</summary>
public sealed class LocalReleasesTests
{
    private static readonly DateTimeOffset Now = new(2030, 1, 2, 3, 4, 5, TimeSpan.Zero);

    [Fact]
    public async Task Prune_deletes_unkept_releases_and_abandoned_unpacks_by_the_clock()
    {
        var state = Path.Combine(TestEnvironment.NewWorkDir("local-releases"), "state");
        var releases = new LocalReleases(new LocalTargetOptions(state, "unused.dll") { Time = new FakeTimeProvider(Now) });
        var kept = Digest.Parse("sha256:" + new string('a', 64));
        var dropped = Digest.Parse("sha256:" + new string('b', 64));
        Directory.CreateDirectory(releases.DirectoryOf(kept));
        Directory.CreateDirectory(releases.DirectoryOf(dropped));
        File.WriteAllText(releases.DirectoryOf(dropped) + ".json", "{}");
        var root = Path.GetDirectoryName(releases.DirectoryOf(kept))!;
        var abandoned = Directory.CreateDirectory(Path.Combine(root, ".tmp-abandoned"));
        var live = Directory.CreateDirectory(Path.Combine(root, ".tmp-live"));
        abandoned.LastWriteTimeUtc = (Now - TimeSpan.FromHours(2)).UtcDateTime;
        live.LastWriteTimeUtc = (Now - TimeSpan.FromMinutes(10)).UtcDateTime;

        await releases.PruneAsync(new HashSet<string>([kept.Value], StringComparer.Ordinal), TestContext.Current.CancellationToken);

        Assert.True(Directory.Exists(releases.DirectoryOf(kept)));
        Assert.False(Directory.Exists(releases.DirectoryOf(dropped)));
        Assert.False(File.Exists(releases.DirectoryOf(dropped) + ".json"));
        Assert.False(Directory.Exists(abandoned.FullName));
        Assert.True(Directory.Exists(live.FullName));
    }

    [Theory]
    [InlineData("blue")]
    [InlineData("g-1.2_3")]
    [InlineData("0abc")]
    public void Accepts_group_names_of_the_rule(string group) => LocalGroupName.Validate(group);

    [Theory]
    [InlineData("")]
    [InlineData("Blue")]
    [InlineData("-blue")]
    [InlineData("a/b")]
    [InlineData("a b")]
    public void Refuses_other_group_names_with_IMB7009(string group) =>
        Assert.Equal(LocalErrors.InvalidRequestCode, Assert.Throws<ImmutableBuildException>(() => LocalGroupName.Validate(group)).Code);

    [Fact]
    public void Refuses_a_group_name_over_63_characters() =>
        Assert.Equal(LocalErrors.InvalidRequestCode, Assert.Throws<ImmutableBuildException>(() => LocalGroupName.Validate(new string('a', 64))).Code);
}
