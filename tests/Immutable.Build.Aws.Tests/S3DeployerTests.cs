using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Immutable.Build.Deployments;

namespace Immutable.Build.Aws.Tests;

/// <summary>
/// ImmutableStateUrl=s3://... as the adapters use it: through <see cref="Deployer"/>, with the S3 store found beside
/// Core. One runner migrates its file state to the bucket, a second deploys from an empty state directory, a third
/// (given the URL only by IMMUTABLE_STATE_URL) rolls back, and all of them see one history.
/// </summary>
[Collection("moto")]
public sealed class S3DeployerTests(MotoFixture moto) : IDisposable
{
    private const string Bucket = "immutable-deployer-state";
    private readonly List<Ec2Scenario> _runners = [];

    public void Dispose() => _runners.ForEach(r => r.Dispose());

    [Fact]
    public async Task Migrate_then_deploy_and_roll_back_from_other_runners_through_one_bucket()
    {
        var ct = TestContext.Current.CancellationToken;
        await moto.ResetAsync();
        using (var s3 = new AmazonS3Client(new BasicAWSCredentials(moto.Credentials["AWS_ACCESS_KEY_ID"], moto.Credentials["AWS_SECRET_ACCESS_KEY"]), new AmazonS3Config { ServiceURL = moto.Url.ToString(), AuthenticationRegion = MotoFixture.Region, ForcePathStyle = true }))
        {
            await s3.PutBucketAsync(new PutBucketRequest { BucketName = Bucket }, ct);
        }

        var url = $"s3://{Bucket}/team";
        var a = Runner();
        var b = Runner();
        var c = Runner();

        // Runner A has history in its state directory only, then moves it to the bucket.
        Assert.True((await Deployer.DeployAsync(a.Options(), a.Release(1), a.Log, ct)).Succeeded);
        var (journal, ledger) = await Deployer.MigrateStateAsync(WithS3(a, null), url, a.Log, ct);
        Assert.True(journal > 5 && ledger >= 1, $"{journal} journal, {ledger} ledger lines");

        // Runner B, with an empty state directory, sees v1 as current and replaces it.
        var deployed = await Deployer.DeployAsync(WithS3(b, url), b.Release(2), b.Log, ct);
        Assert.True(deployed.Succeeded, deployed.Reason);
        Assert.Equal(a.Release(1).ReleaseId, deployed.PreviousRelease?.ReleaseId);
        Assert.Equal(url, Deployer.StateLocation(WithS3(b, url)));

        // Runner C names the bucket only through IMMUTABLE_STATE_URL.
        var fromEnvironment = WithS3(c, null) with { GetEnvironmentVariable = n => n == StateStores.UrlVariable ? url : moto.Environment(n) };
        Assert.Null(await Deployer.LockStatusAsync(fromEnvironment, ct));
        var rolledBack = await Deployer.RollbackAsync(fromEnvironment, null, c.Log, ct);
        Assert.True(rolledBack.Succeeded, rolledBack.Reason);
        Assert.Equal(a.Release(1).ReleaseId, rolledBack.Release.ReleaseId);

        var status = await Deployer.StatusAsync(fromEnvironment, repair: false, c.Log, ct);
        Assert.Equal(url, status.StateLocation);
        Assert.Equal(a.Release(1).ReleaseId, status.Current?.ReleaseId);
        var history = await Deployer.HistoryAsync(WithS3(a, url), ct);
        Assert.Equal(["deploy", "deploy", "rollback"], history.Where(e => e.Type == "rollout").Select(e => e.Trigger));
        Assert.All(history, e => Assert.NotNull(e.Origin));

        // The migrated scope cannot be migrated over again.
        var again = await Assert.ThrowsAsync<ImmutableBuildException>(() => Deployer.MigrateStateAsync(WithS3(a, null), url, a.Log, ct));
        Assert.Equal("IMB6207", again.Code);
    }

    private Ec2Scenario Runner()
    {
        var runner = new Ec2Scenario(moto, "s3deploy");
        _runners.Add(runner);
        return runner;
    }

    private static DeploymentOptions WithS3(Ec2Scenario runner, string? url)
    {
        var options = runner.Options();
        return options with
        {
            StateUrl = url,
            TargetSettings = new Dictionary<string, string>(options.TargetSettings, StringComparer.OrdinalIgnoreCase) { [AwsSettings.S3ServiceUrl] = options.TargetSettings[AwsSettings.ServiceUrl] },
        };
    }
}
