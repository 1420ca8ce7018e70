using Immutable.Build.Deployments;
using Immutable.Build.State;

namespace Immutable.Build.Core.Tests.State;

/// <summary>Which store a URL opens, and what every record says about where it was written.</summary>
public sealed class StateStoresTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewWorkDir("state-stores");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("file")]
    public void No_url_is_the_state_directory(string? url)
    {
        using var store = StateStores.Open(url, _dir, new StateContext(), []);
        Assert.IsType<FileStateStore>(store);
        Assert.Equal(new Uri(Path.GetFullPath(_dir) + "/").AbsoluteUri, store.Location);
    }

    [Fact]
    public void A_file_url_is_that_directory()
    {
        var other = Path.Combine(_dir, "other");
        using var store = StateStores.Open(new Uri(other).AbsoluteUri, _dir, new StateContext(), []);
        Assert.Equal(other, ((FileStateStore)store).StateDirectory);
    }

    [Theory]
    [InlineData("ftp://host/state", "no state store answers to 'ftp://'")]
    [InlineData("not a url", "is not a URL")]
    [InlineData("s3://bucket/prefix", "no state store answers to 's3://'")]
    public void An_unknown_or_malformed_url_says_what_to_write(string url, string says)
    {
        var e = Assert.Throws<ImmutableBuildException>(() => StateStores.Open(url, _dir, new StateContext(), []));
        Assert.Equal("IMB6203", e.Code);
        Assert.Contains(says, e.Message, StringComparison.Ordinal);
        Assert.Contains("leave it empty for the state directory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_url_comes_from_the_setting_else_the_environment()
    {
        Assert.Equal("s3://a/b", StateStores.Url(" s3://a/b ", _ => "docker://"));
        Assert.Equal("docker://", StateStores.Url(null, n => n == "IMMUTABLE_STATE_URL" ? "docker://" : null));
        Assert.Null(StateStores.Url("", _ => null));
    }

    [Theory]
    [InlineData("GITHUB_RUN_ID=42;GITHUB_REPOSITORY=acme/shop;GITHUB_SERVER_URL=https://github.com;GITHUB_RUN_ATTEMPT=2", "https://github.com/acme/shop/actions/runs/42/attempts/2")]
    [InlineData("CI_JOB_URL=https://gitlab.example/acme/shop/-/jobs/7", "https://gitlab.example/acme/shop/-/jobs/7")]
    [InlineData("SYSTEM_COLLECTIONURI=https://dev.azure.com/acme/;SYSTEM_TEAMPROJECT=Shop Team;BUILD_BUILDID=99", "https://dev.azure.com/acme/Shop%20Team/_build/results?buildId=99")]
    [InlineData("GITHUB_TOKEN=ghp_secret", null)]
    public void The_ci_run_is_named_from_the_environment_and_nothing_else(string variables, string? url)
    {
        var env = variables.Split(';').Select(v => v.Split('=', 2)).ToDictionary(v => v[0], v => v[1]);
        var origin = RecordOrigin.Current(n => env.GetValueOrDefault(n));
        Assert.Equal(url, origin.CiRun);
        Assert.DoesNotContain("secret", origin.ToString(), StringComparison.Ordinal);
    }
}
