using Immutable.Build.Images;
using Immutable.Build.Registry;

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>
/// Publishers racing to one explicit tag, against the real registry. Each racer has its own client, as separate
/// processes would, and all start together so their guard checks and writes interleave.
/// </summary>
public sealed class TagRaceTests(RegistryFixture registry)
{
    private const int Racers = 20;
    private const string Tag = "1.0.0";

    [Fact]
    public async Task Racers_with_different_content_leave_one_winner_and_every_loser_names_both_digests()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("race");
        var images = Enumerable.Range(0, Racers).Select(_ => TestImage.Create()).ToList();

        var outcomes = await RaceAsync(repository, images, ct);

        var final = Digest.Parse(await registry.TagDigestAsync(repository, Tag) ?? throw new Xunit.Sdk.XunitException("the tag is absent after the race"));
        var successes = outcomes.Where(o => o.Result is not null).ToList();
        // Every image is different, so "each success names the tag's final digest" means exactly one success.
        Assert.All(successes, s => Assert.Equal(final, s.Result!.Digest));
        Assert.Single(successes);
        foreach (var loser in outcomes.Where(o => o.Result is null))
        {
            var error = Assert.IsType<ImmutableBuildException>(loser.Error);
            Assert.Contains(error.Code, new[] { RegistryErrors.TagRefused, RegistryErrors.TagTakenConcurrently });
            Assert.Contains(loser.Image.Digest.Value, error.Message, StringComparison.Ordinal);
            Assert.Contains(final.Value, error.Message, StringComparison.Ordinal);
        }

        // The winner's manifest is whole: every blob it names is in the repository.
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());
        var manifest = ImageJson.ParseManifest((await client.GetManifestAsync(repository, Tag, ct)).Content);
        foreach (var blob in manifest.Layers.Select(l => l.Digest).Append(manifest.Config.Digest))
        {
            Assert.True(await client.BlobExistsAsync(repository, Digest.Parse(blob), ct), $"{blob} is missing under the tag");
        }

        // The registry allows deletes, so the released lease leaves no tag behind.
        Assert.Equal([Tag], await registry.TagsAsync(repository));
    }

    [Fact]
    public async Task Racers_with_the_same_content_all_succeed_with_one_digest()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("race-same");
        var image = TestImage.Create();

        var outcomes = await RaceAsync(repository, Enumerable.Repeat(image, Racers).ToList(), ct);

        Assert.All(outcomes, o => Assert.Null(o.Error));
        Assert.All(outcomes, o => Assert.Equal(image.Digest, o.Result!.Digest));
        Assert.All(outcomes, o => Assert.Contains(o.Result!.Tags.Single().Decision, new[] { TagDecision.Push, TagDecision.Adopt }));
        Assert.Equal(image.Digest.Value, await registry.TagDigestAsync(repository, Tag));
        Assert.Equal([Tag], await registry.TagsAsync(repository));
    }

    [Fact]
    public async Task A_lease_left_by_a_killed_publisher_is_taken_over_once_stale_and_waits_no_longer_than_allowed()
    {
        registry.Require();
        var ct = TestContext.Current.CancellationToken;
        var repository = RegistryTestKit.NewRepository("stale-lease");
        var image = TestImage.Create();
        using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());
        // The image by digest puts its config in the repository, so a lease naming it is a manifest the registry accepts.
        await ImagePusher.PushAsync(client, repository, image.Content, [], false, null, ct);
        var config = image.Content.Config.Descriptor;
        var dead = System.Text.Encoding.UTF8.GetBytes(
            $"{{\"schemaVersion\":2,\"mediaType\":\"{MediaTypes.OciManifest}\",\"config\":{{\"mediaType\":\"{config.MediaType}\",\"digest\":\"{config.Digest}\",\"size\":{config.Size}}},\"layers\":[],\"annotations\":{{\"build.immutable.lease.holder\":\"killed\"}}}}");
        await client.PutManifestAsync(repository, RepositoryLease.Tag, dead, MediaTypes.OciManifest, ct);
        var quick = new RepositoryLeaseTiming(Settle: TimeSpan.FromMilliseconds(100), Stale: TimeSpan.FromSeconds(1.5), Wait: TimeSpan.FromSeconds(0.5), Poll: TimeSpan.FromMilliseconds(50));

        var impatient = await Assert.ThrowsAsync<ImmutableBuildException>(() => ImagePusher.PushAsync(client, repository, image.Content, [Tag], false, null, ct, leaseTiming: quick));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var patient = await ImagePusher.PushAsync(client, repository, image.Content, [Tag], false, null, ct, leaseTiming: quick with { Wait = TimeSpan.FromSeconds(20) });

        Assert.Equal(RegistryErrors.LeaseUnavailable, impatient.Code);
        Assert.Equal(TagDecision.Push, patient.Tags.Single().Decision);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.4), TimeSpan.FromSeconds(15));
        Assert.Equal(image.Digest.Value, await registry.TagDigestAsync(repository, Tag));
        Assert.Equal([Tag], await registry.TagsAsync(repository));
    }

    private async Task<List<Outcome>> RaceAsync(string repository, IReadOnlyList<TestImage> images, CancellationToken ct)
    {
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var racers = images.Select(image => Task.Run(
            async () =>
            {
                using var client = new RegistryClient(registry.Address, RegistryTestKit.Options());
                await start.Task.WaitAsync(ct);
                try
                {
                    return new Outcome(image, await ImagePusher.PushAsync(client, repository, image.Content, [Tag], allowOverwrite: false, null, ct), null);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    return new Outcome(image, null, e);
                }
            },
            ct)).ToList();
        start.SetResult();
        return [.. await Task.WhenAll(racers)];
    }

    private sealed record Outcome(TestImage Image, ImagePushResult? Result, Exception? Error)
    {
        // Assertion messages name the racer by its digest and what it reported, not by its bytes.
        public override string ToString() => $"{Image.Digest}: {(Result is not null ? "succeeded" : Error?.Message)}";
    }
}
