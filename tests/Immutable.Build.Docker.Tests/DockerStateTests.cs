using System.Text;
using Docker.DotNet.Models;
using Immutable.Build.Docker.State;
using Immutable.Build.State;
using Immutable.Build.Targets;

namespace Immutable.Build.Docker.Tests;

/// <summary>
/// ImmutableStateUrl=docker:// on the real engine: the conditional objects (container names as the compare-and-swap)
/// and the provider that opens them from the Docker settings.
/// </summary>
public sealed class DockerStateTests(DockerEngineFixture engine) : IAsyncLifetime
{
    // Every test writes below its own prefix, so runs and tests never share an object.
    private readonly string _prefix = $"state-test-{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task A_create_of_an_object_that_exists_loses_and_the_first_content_stays()
    {
        var ct = TestContext.Current.CancellationToken;
        using var objects = Open();
        var key = $"{_prefix}/lock.json";

        var first = await objects.TryWriteAsync(key, Bytes("first"), null, ct);
        var second = await objects.TryWriteAsync(key, Bytes("second"), null, ct);

        Assert.NotNull(first);
        Assert.Null(second);
        var read = await objects.ReadAsync(key, ct);
        Assert.Equal("first", Text(read!.Content));
        Assert.Equal(first, read.Version);
    }

    [Fact]
    public async Task A_write_on_a_stale_version_loses_and_a_missing_object_reads_as_null()
    {
        var ct = TestContext.Current.CancellationToken;
        using var objects = Open();
        var key = $"{_prefix}/journal.jsonl";
        Assert.Null(await objects.ReadAsync(key, ct));

        var v1 = await objects.TryWriteAsync(key, Bytes("a\n"), null, ct);
        var v2 = await objects.TryWriteAsync(key, Bytes("a\nb\n"), v1, ct);
        var stale = await objects.TryWriteAsync(key, Bytes("a\nc\n"), v1, ct);

        Assert.NotNull(v2);
        Assert.NotEqual(v1, v2);
        Assert.Null(stale);
        var read = await objects.ReadAsync(key, ct);
        Assert.Equal("a\nb\n", Text(read!.Content));
        Assert.Equal(v2, read.Version);
    }

    [Fact]
    public async Task Of_twenty_writers_racing_on_one_version_from_twenty_clients_exactly_one_wins()
    {
        var ct = TestContext.Current.CancellationToken;
        var key = $"{_prefix}/ledger.jsonl";
        using var setup = Open();
        var start = await setup.TryWriteAsync(key, Bytes("start"), null, ct);
        var writers = Enumerable.Range(0, 20).Select(_ => Open()).ToList();
        try
        {
            var results = await Task.WhenAll(writers.Select((w, i) => w.TryWriteAsync(key, Bytes($"writer {i}"), start, ct)));

            var winners = results.Select((version, i) => (version, i)).Where(r => r.version is not null).ToList();
            var winner = Assert.Single(winners);
            var read = await setup.ReadAsync(key, ct);
            Assert.Equal($"writer {winner.i}", Text(read!.Content));
            Assert.Equal(winner.version, read.Version);
        }
        finally
        {
            writers.ForEach(w => w.Dispose());
        }
    }

    [Fact]
    public async Task A_late_writer_whose_version_was_pruned_cannot_reuse_its_free_name()
    {
        var ct = TestContext.Current.CancellationToken;
        using var objects = Open(supersededFor: TimeSpan.FromSeconds(1));
        var key = $"{_prefix}/lock.json";
        var v1 = await objects.TryWriteAsync(key, Bytes("1"), null, ct);
        var v2 = await objects.TryWriteAsync(key, Bytes("2"), v1, ct);

        // Creation times have whole seconds: two seconds make sure v1 and v2 count as superseded for one.
        await Task.Delay(TimeSpan.FromSeconds(2.1), ct);
        var v3 = await objects.TryWriteAsync(key, Bytes("3"), v2, ct);
        await Task.Delay(TimeSpan.FromSeconds(2.1), ct);
        var v4 = await objects.TryWriteAsync(key, Bytes("4"), v3, ct);
        Assert.Equal(["3", "4"], (await StateContainersAsync()).Select(c => c.Labels[DockerStateObjects.VersionLabel]).Order(StringComparer.Ordinal));

        // Versions 2 and 3 are free names again; a writer that read version 1 or 2 long ago must still lose.
        Assert.Null(await objects.TryWriteAsync(key, Bytes("late on 1"), v1, ct));
        Assert.Null(await objects.TryWriteAsync(key, Bytes("late on 2"), v2, ct));
        Assert.Null(await objects.TryWriteAsync(key, Bytes("late create"), null, ct));

        var read = await objects.ReadAsync(key, ct);
        Assert.Equal("4", Text(read!.Content));
        Assert.Equal(v4, read.Version);
        Assert.Equal(["3", "4"], (await StateContainersAsync()).Select(c => c.Labels[DockerStateObjects.VersionLabel]).Order(StringComparer.Ordinal));
        Assert.NotNull(await objects.TryWriteAsync(key, Bytes("5"), v4, ct));
    }

    [Fact]
    public async Task List_names_the_keys_below_a_prefix_of_this_store_only()
    {
        var ct = TestContext.Current.CancellationToken;
        using var objects = Open();
        using var elsewhere = new DockerStateObjects(DockerEndpoint.Parse(engine.DockerHost).CreateClient(), "docker://another-store");
        await objects.TryWriteAsync($"{_prefix}/app.prod/journal.jsonl", Bytes("j"), null, ct);
        var ledger = await objects.TryWriteAsync($"{_prefix}/app.prod/ledger.jsonl", Bytes("l"), null, ct);
        await objects.TryWriteAsync($"{_prefix}/app.prod/ledger.jsonl", Bytes("l2"), ledger, ct);
        await objects.TryWriteAsync($"{_prefix}/app.test/lock.json", Bytes("k"), null, ct);
        await elsewhere.TryWriteAsync($"{_prefix}/other.prod/journal.jsonl", Bytes("o"), null, ct);

        Assert.Equal(
            [$"{_prefix}/app.prod/journal.jsonl", $"{_prefix}/app.prod/ledger.jsonl", $"{_prefix}/app.test/lock.json"],
            await objects.ListAsync(_prefix + "/", ct));
        Assert.Equal([$"{_prefix}/app.prod/journal.jsonl", $"{_prefix}/app.prod/ledger.jsonl"], await objects.ListAsync(_prefix + "/app.prod/", ct));
        Assert.Empty(await objects.ListAsync(_prefix + "/nothing/", ct));
    }

    [Fact]
    public async Task The_docker_target_sees_no_instance_in_the_state_containers_and_they_are_never_started()
    {
        var ct = TestContext.Current.CancellationToken;
        using var objects = Open();
        var scope = new DeploymentScope(_prefix, "prod");
        await objects.TryWriteAsync($"{_prefix}/{scope.Key}/journal.jsonl", Bytes("{}"), null, ct);
        var target = new DockerTarget(new DockerTargetOptions
        {
            Hosts = [DockerHostEntry.Parse(engine.DockerHost, DockerTargetProvider.DefaultProxyPort)],
            ProxyAssembly = typeof(DockerTarget).Assembly.Location,
        });

        var state = await target.ObserveAsync(scope, ct);

        Assert.Empty(state.Instances);
        var container = Assert.Single(await StateContainersAsync());
        Assert.Equal("created", container.State);
        Assert.DoesNotContain(container.Labels.Keys, k => k is DockerLabels.App or DockerLabels.Role or DockerLabels.Managed or DockerLabels.Port);
    }

    [Fact]
    public async Task The_provider_opens_the_first_host_or_the_named_one_and_refuses_a_url_without_a_host()
    {
        var ct = TestContext.Current.CancellationToken;
        var provider = new DockerStateStoreProvider();
        var other = "tcp://127.0.0.1:1";
        var context = new StateContext { Settings = new Dictionary<string, string> { [DockerSettings.Hosts] = $"{engine.DockerHost};{other}" }, GetEnvironmentVariable = _ => null };

        Assert.Equal("docker", provider.Scheme);
        Assert.Equal(engine.DockerHost, DockerStateStoreProvider.Host(new Uri("docker://"), context).Name);
        Assert.Equal(other, DockerStateStoreProvider.Host(new Uri($"docker://{other}"), context).Name);
        Assert.Equal(engine.DockerHost, DockerStateStoreProvider.Host(new Uri($"docker://{engine.DockerHost}"), context).Name);
        Assert.Equal(other, DockerStateStoreProvider.Host(new Uri("docker://"), new StateContext { GetEnvironmentVariable = n => n == "DOCKER_HOST" ? other : null }).Name);
        using (var store = provider.Open(new Uri("docker://"), context))
        {
            Assert.Equal($"docker://{engine.DockerHost}", store.Location);
            await store.AppendAsync(_prefix, StateLog.Ledger, Bytes("{\"kind\":\"test\"}"), ct);
            Assert.Equal(["{\"kind\":\"test\"}"], await store.ReadAsync(_prefix, StateLog.Ledger, ct));
        }

        var none = Assert.Throws<ImmutableBuildException>(() => provider.Open(new Uri("docker://"), new StateContext { GetEnvironmentVariable = _ => null }));
        Assert.Equal(StateErrors.InvalidStateUrl, none.Code);
        var unknown = Assert.Throws<ImmutableBuildException>(() => provider.Open(new Uri("docker://tcp://127.0.0.1:2"), context));
        Assert.Equal(StateErrors.InvalidStateUrl, unknown.Code);
        Assert.Contains(other, unknown.Message, StringComparison.Ordinal);

        // An engine that does not answer is the store's IMB6202, naming the store and not the credentials.
        using var away = provider.Open(new Uri($"docker://{other}"), context);
        var e = await Assert.ThrowsAsync<ImmutableBuildException>(() => away.ReadAsync(_prefix, StateLog.Journal, ct));
        Assert.Equal(StateErrors.StoreUnavailable, e.Code);
        Assert.Contains(other, e.Message, StringComparison.Ordinal);
    }

    /// <inheritdoc />
    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        using var client = DockerEndpoint.Parse(engine.DockerHost).CreateClient();
        foreach (var c in await StateContainersAsync())
        {
            await client.Containers.RemoveContainerAsync(c.ID, new ContainerRemoveParameters { Force = true });
        }
    }

    private DockerStateObjects Open(TimeSpan? supersededFor = null) =>
        new(DockerEndpoint.Parse(engine.DockerHost).CreateClient(), $"docker://{engine.DockerHost}") { SupersededFor = supersededFor ?? TimeSpan.FromSeconds(30) };

    private async Task<IList<ContainerListResponse>> StateContainersAsync()
    {
        using var client = DockerEndpoint.Parse(engine.DockerHost).CreateClient();
        var all = await client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{DockerStateObjects.StateLabel}=1"] = true } },
        });
        return all.Where(c => c.Labels.TryGetValue(DockerStateObjects.KeyLabel, out var key) && key.StartsWith(_prefix + "/", StringComparison.Ordinal)).ToList();
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
