using System.Text;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Immutable.Build.Aws.State;
using Immutable.Build.State;

namespace Immutable.Build.Aws.Tests;

/// <summary>
/// The S3 state store against moto's S3, which refuses a second If-None-Match: * PUT and a stale If-Match with 412
/// as S3 does: first the conditional-object primitive, then the shared-state scenarios with the real EC2 target on
/// the same moto. One bucket for the class (recreated after each test's moto reset), one prefix per test.
/// </summary>
[Collection("moto")]
public sealed class S3StateTests(MotoFixture moto) : IDisposable
{
    private const string Bucket = "immutable-state-tests";
    private readonly string _prefix = "team-" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<IDisposable> _owned = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Secret => moto.Credentials["AWS_SECRET_ACCESS_KEY"]!;

    public void Dispose() => _owned.ForEach(d => d.Dispose());

    [Fact]
    public async Task A_second_create_of_a_key_loses_and_the_first_is_read_back_with_its_etag()
    {
        using var objects = await ObjectsAsync();

        var first = await objects.TryWriteAsync("scope/lock.json", "one"u8.ToArray(), null, Ct);
        var second = await objects.TryWriteAsync("scope/lock.json", "two"u8.ToArray(), null, Ct);

        Assert.NotNull(first);
        Assert.Null(second);
        var read = await objects.ReadAsync("scope/lock.json", Ct);
        Assert.Equal("one", Encoding.UTF8.GetString(read!.Content));
        Assert.Equal(first, read.Version);
    }

    [Fact]
    public async Task An_update_with_a_stale_etag_loses_and_one_with_the_current_etag_wins()
    {
        using var objects = await ObjectsAsync();
        var v1 = await objects.TryWriteAsync("scope/journal.jsonl", "a\n"u8.ToArray(), null, Ct);
        var v2 = await objects.TryWriteAsync("scope/journal.jsonl", "a\nb\n"u8.ToArray(), v1, Ct);

        var stale = await objects.TryWriteAsync("scope/journal.jsonl", "a\nc\n"u8.ToArray(), v1, Ct);
        var v3 = await objects.TryWriteAsync("scope/journal.jsonl", "a\nb\nc\n"u8.ToArray(), v2, Ct);

        Assert.NotNull(v2);
        Assert.NotEqual(v1, v2);
        Assert.Null(stale);
        Assert.NotNull(v3);
        var read = await objects.ReadAsync("scope/journal.jsonl", Ct);
        Assert.Equal("a\nb\nc\n", Encoding.UTF8.GetString(read!.Content));
        Assert.Equal(v3, read.Version);
    }

    [Fact]
    public async Task A_missing_key_reads_as_null_but_a_missing_bucket_is_IMB6202_without_the_secret()
    {
        using var objects = await ObjectsAsync();
        Assert.Null(await objects.ReadAsync("nothing/here.json", Ct));

        using var store = OpenStore(new StateContext(), url: "s3://no-such-bucket-here/x");
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => store.ReadAsync("app.prod", StateLog.Ledger, Ct));
        Assert.Equal(StateErrors.StoreUnavailable, e.Code);
        Assert.Contains("s3://no-such-bucket-here/x", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, e.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(moto.Credentials["AWS_ACCESS_KEY_ID"]!, e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Listing_pages_through_the_keys_below_the_prefix_only()
    {
        using var objects = await ObjectsAsync(pageSize: 2);
        string[] keys = ["a.prod/journal.jsonl", "a.prod/ledger.jsonl", "a.prod/lock.json", "b.test/ledger.jsonl", "c.prod/journal.jsonl"];
        foreach (var key in keys)
        {
            Assert.NotNull(await objects.TryWriteAsync(key, "x\n"u8.ToArray(), null, Ct));
        }

        // A neighbouring prefix that starts with this one's name is not below it.
        using var neighbour = await ObjectsAsync(prefix: _prefix + "-other");
        Assert.NotNull(await neighbour.TryWriteAsync("z.prod/ledger.jsonl", "x\n"u8.ToArray(), null, Ct));

        Assert.Equal(keys, (await objects.ListAsync("", Ct)).Order(StringComparer.Ordinal));
        Assert.Equal(["a.prod/journal.jsonl", "a.prod/ledger.jsonl", "a.prod/lock.json"], (await objects.ListAsync("a.prod/", Ct)).Order(StringComparer.Ordinal));
        using var store = new ConditionalStateStore(new S3Objects(Client(), Bucket, _prefix));
        Assert.Equal(["a.prod", "b.test", "c.prod"], await store.ScopesAsync(Ct));
    }

    [Theory]
    [InlineData("s3://")]
    [InlineData("s3:///prefix")]
    [InlineData("s3://Team_State/prefix")]
    [InlineData("s3://ab/prefix")]
    [InlineData("s3://team-state/prefix?region=eu-west-1")]
    [InlineData("docker://team-state/prefix")]
    public void A_url_without_a_usable_bucket_is_IMB6203_saying_what_to_write(string url)
    {
        var e = Assert.Throws<ImmutableBuildException>(() => OpenStore(new StateContext(), url: url));

        Assert.Equal(StateErrors.InvalidStateUrl, e.Code);
        Assert.Contains("s3://<bucket>/<prefix>", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_endpoint_is_the_setting_else_AWS_ENDPOINT_URL_S3_else_AWS_ENDPOINT_URL()
    {
        await StartAsync();
        var nowhere = "http://127.0.0.1:9/";
        var provider = new S3StateStoreProvider();
        Assert.Equal(new[] { AwsSettings.Region, AwsSettings.S3ServiceUrl }, provider.Settings.Select(s => s.Property));
        Assert.Contains(AwsSettings.All, s => s.Property == AwsSettings.S3ServiceUrl);

        async Task AssertReachesMotoAsync(Dictionary<string, string> settings, Dictionary<string, string?> environment)
        {
            using var store = provider.Open(new Uri($"s3://{Bucket}/{_prefix}"), new StateContext
            {
                Settings = settings,
                GetEnvironmentVariable = name => environment.TryGetValue(name, out var v) ? v : moto.Environment(name),
            });
            Assert.Equal($"s3://{Bucket}/{_prefix}", store.Location);
            await store.AppendAsync("endpoint.prod", StateLog.Ledger, "{}"u8.ToArray(), Ct);
        }

        await AssertReachesMotoAsync(Settings(), new() { ["AWS_ENDPOINT_URL_S3"] = nowhere, ["AWS_ENDPOINT_URL"] = nowhere });
        await AssertReachesMotoAsync(new() { [AwsSettings.Region] = MotoFixture.Region }, new() { ["AWS_ENDPOINT_URL_S3"] = moto.Url.ToString(), ["AWS_ENDPOINT_URL"] = nowhere });
        await AssertReachesMotoAsync(new() { [AwsSettings.Region] = MotoFixture.Region }, new() { ["AWS_ENDPOINT_URL_S3"] = null, ["AWS_ENDPOINT_URL"] = moto.Url.ToString() });
        var bad = Assert.Throws<ImmutableBuildException>(() => provider.Open(new Uri($"s3://{Bucket}/x"), new StateContext { Settings = new Dictionary<string, string> { [AwsSettings.S3ServiceUrl] = "ftp://x", [AwsSettings.Region] = MotoFixture.Region } }));
        Assert.Equal(AwsErrors.SettingCode, bad.Code);
    }

    [Fact]
    public async Task A_write_that_S3_applied_but_whose_answer_was_lost_is_not_applied_twice()
    {
        await StartAsync();
        var lose = new AnswerLoss();
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var provider = new S3StateStoreProvider { WrapHandler = inner => new AnswerLosingHandler(lose) { InnerHandler = inner } };
        using var store = provider.Open(new Uri($"s3://{Bucket}/{_prefix}"), new StateContext
        {
            Settings = Settings(),
            GetEnvironmentVariable = moto.Environment,
            Log = new ReleaseLog(lines.Enqueue, lines.Enqueue, (code, message) => lines.Enqueue(code + " " + message)),
            Shared = new ConditionalStateOptions { Lease = TimeSpan.FromSeconds(3), PollInterval = TimeSpan.FromMilliseconds(100) },
        });

        // The append's PUT lands, its answer does not; the SDK's retry of it then reads 412.
        lose.Next();
        await store.AppendAsync("lost.prod", StateLog.Ledger, "{\"n\":1}"u8.ToArray(), Ct);
        await store.AppendAsync("lost.prod", StateLog.Ledger, "{\"n\":2}"u8.ToArray(), Ct);
        Assert.Equal(1, lose.Lost);
        Assert.Equal(["{\"n\":1}", "{\"n\":2}"], await store.ReadAsync("lost.prod", StateLog.Ledger, Ct));

        // The take of the lock lands unanswered: it is ours at once, not after our own lease.
        lose.Next();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using (var lease = await store.AcquireLockAsync("lost.prod", new LockRequest("deploy lost", TimeSpan.FromSeconds(20)), Ct))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");
            Assert.Equal(2, lose.Lost);
            Assert.Null(lease.TookOverFrom);

            // A renewal (every second) lands unanswered: the next one renews from the version it left.
            lose.Next();
            await Task.Delay(TimeSpan.FromSeconds(3.5), Ct);
            Assert.Equal(3, lose.Lost);
            var held = await store.ReadLockAsync("lost.prod", Ct);
            Assert.Equal(lease.Holder.LeaseId, held?.LeaseId);
            Assert.True(held!.Expires > DateTimeOffset.UtcNow, "the lease was not renewed");
        }

        Assert.Null(await store.ReadLockAsync("lost.prod", Ct));
        Assert.DoesNotContain(lines, l => l.StartsWith(StateErrors.LockLost, StringComparison.Ordinal) || l.StartsWith(StateErrors.StaleLockTakenOver, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Two_runners_at_once_the_second_fails_with_IMB6004_naming_the_first()
    {
        var (s, scenarios) = await ScenariosAsync("s3two");
        await scenarios.TwoRunnersAtOnceAsync();
        await AssertNoSecretAsync(s);
    }

    [Fact]
    public async Task Twenty_clients_appending_at_once_lose_no_record_and_one_writer_keeps_its_order()
    {
        var (_, scenarios) = await ScenariosAsync("s3app");
        await scenarios.ConcurrentAppendsAsync(20);
    }

    [Fact]
    public async Task A_runner_killed_after_any_durable_write_is_taken_over_and_converged_by_another()
    {
        var (s, scenarios) = await ScenariosAsync("s3kill");
        var writes = await scenarios.KilledAfterAnyDurableWriteAsync();
        Assert.True(writes > 8);
        await AssertNoSecretAsync(s);
    }

    [Fact]
    public async Task A_third_runner_rolls_back_and_sees_the_whole_history()
    {
        var (s, scenarios) = await ScenariosAsync("s3back");
        await scenarios.RollbackFromThirdRunnerAsync();
        await AssertNoSecretAsync(s);
    }

    [Fact]
    public async Task A_lock_left_by_a_killed_runner_is_shown_and_cleared_by_a_forced_release()
    {
        var (s, scenarios) = await ScenariosAsync("s3force");
        await scenarios.ForceReleaseAsync();
        await AssertNoSecretAsync(s);
    }

    [Fact]
    public async Task A_damaged_ledger_line_stops_the_deploy_until_state_repair_replaces_it_losing_nothing()
    {
        var (s, scenarios) = await ScenariosAsync("s3repair");
        await scenarios.RepairAsync();
        await AssertNoSecretAsync(s);
    }

    /// <summary>Resets moto (its reset is global and every moto test class starts with one) and makes the class's bucket.</summary>
    private async Task StartAsync()
    {
        await moto.ResetAsync();
        using var s3 = Client();
        await s3.PutBucketAsync(new PutBucketRequest { BucketName = Bucket }, Ct);
    }

    private async Task<S3Objects> ObjectsAsync(int? pageSize = null, string? prefix = null)
    {
        if (prefix is null)
        {
            await StartAsync();
        }

        return new S3Objects(Client(), Bucket, prefix ?? _prefix) { PageSize = pageSize };
    }

    private async Task<(Ec2Scenario Scenario, SharedStateScenarios Scenarios)> ScenariosAsync(string app)
    {
        await StartAsync();
        var s = new Ec2Scenario(moto, app);
        _owned.Add(s);
        return (s, new SharedStateScenarios(OpenStore, s.Target, s.Release, s.Lines, app));
    }

    /// <summary>The store as ImmutableStateUrl opens it: through the provider, with the settings and environment a deploy would give it.</summary>
    private IStateStore OpenStore(StateContext context) => OpenStore(context, url: null);

    private IStateStore OpenStore(StateContext context, string? url) =>
        new S3StateStoreProvider().Open(new Uri(url ?? $"s3://{Bucket}/{_prefix}", UriKind.RelativeOrAbsolute), context with { Settings = Settings(), GetEnvironmentVariable = moto.Environment });

    private Dictionary<string, string> Settings() => new(StringComparer.OrdinalIgnoreCase)
    {
        [AwsSettings.Region] = MotoFixture.Region,
        [AwsSettings.S3ServiceUrl] = moto.Url.ToString(),
    };

    private AmazonS3Client Client() => new(
        new BasicAWSCredentials(moto.Credentials["AWS_ACCESS_KEY_ID"], Secret),
        new AmazonS3Config { ServiceURL = moto.Url.ToString(), AuthenticationRegion = MotoFixture.Region, ForcePathStyle = true });

    /// <summary>No secret in the log, the local state or any object the store wrote.</summary>
    private async Task AssertNoSecretAsync(Ec2Scenario s)
    {
        using var objects = new S3Objects(Client(), Bucket, _prefix);
        var texts = new List<string>();
        foreach (var key in await objects.ListAsync("", Ct))
        {
            texts.Add(Encoding.UTF8.GetString((await objects.ReadAsync(key, Ct))!.Content));
        }

        Assert.NotEmpty(texts);
        Assert.All(texts, t => Assert.DoesNotContain(moto.Credentials["AWS_ACCESS_KEY_ID"]!, t, StringComparison.Ordinal));
        s.AssertNoSecret([.. texts]);
    }
}

/// <summary>How many PUT answers to lose next, and how many were lost.</summary>
internal sealed class AnswerLoss
{
    private int _pending;
    private int _lost;

    public int Lost => Volatile.Read(ref _lost);

    public void Next() => Interlocked.Increment(ref _pending);

    public bool Take()
    {
        if (Interlocked.Decrement(ref _pending) >= 0)
        {
            Interlocked.Increment(ref _lost);
            return true;
        }

        Interlocked.Increment(ref _pending);
        return false;
    }
}

/// <summary>Lets a PUT reach moto and be applied, then drops its answer as a connection reset would.</summary>
internal sealed class AnswerLosingHandler(AnswerLoss loss) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        if (request.Method == HttpMethod.Put && response.IsSuccessStatusCode && loss.Take())
        {
            response.Dispose();
            throw new HttpRequestException("the connection was reset before the answer arrived", new IOException("connection reset by peer"));
        }

        return response;
    }
}
