using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Caching;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Caching;

/// <summary>The namespace grain on a TestCluster with the fixture's fake application clock, called as an internal service would.</summary>
[Collection(InMemoryClusterCollection.Name)]
public sealed class ResponseCacheGrainTests(InMemoryClusterFixture fixture)
{
    private async Task<IResponseCacheGrain> NewNamespaceAsync(ResponseCacheSettings? settings = null)
    {
        var grain = fixture.Grains.GetGrain<IResponseCacheGrain>(GrainKeys.ResponseCacheNamespace(TestKeys.User("tenant"), "gpt-4o"));
        await grain.ConfigureAsync(settings ?? ResponseCacheSettings.Default with { FillTimeoutMs = 5_000, Dimension = 3 });
        return grain;
    }

    [Fact]
    public async Task FiftyConcurrentMisses_ExactlyOneIsToldToCompute_TheOthersGetItsValue()
    {
        var cache = await NewNamespaceAsync();

        var lookups = Enumerable.Range(0, 50).Select(_ => cache.GetAsync("prompt-1", fill: true, waitMs: 30_000)).ToList();
        await Wait.UntilAsync(async () => lookups.Count(l => l.IsCompleted) + (await cache.GetStatsAsync())!.Waiters == 50,
            TimeSpan.FromSeconds(10), "every caller either answered or waiting for the fill");
        var toldToCompute = lookups.Where(l => l.IsCompleted).Select(l => l.Result).Where(l => l.FillToken is not null).ToList();
        Assert.Single(toldToCompute);
        Assert.Equal(49, (await cache.GetStatsAsync())!.Waiters);

        var write = await cache.PutAsync("prompt-1", ResponseCachePut.Text("the answer", fillToken: toldToCompute[0].FillToken));
        var answers = await Task.WhenAll(lookups);
        var stats = (await cache.GetStatsAsync())!;

        Assert.True(write.FillCompleted);
        Assert.Equal(1, answers.Count(a => a.FillToken is not null));
        Assert.Equal(49, answers.Count(a => a.Status == ResponseCacheLookupStatus.Hit && a.Entry!.GetValueText() == "the answer"));
        Assert.Equal((1L, 0), (stats.Fills, stats.Waiters));
        Assert.Equal((49L, 1L), (stats.Hits, stats.Misses));
    }

    [Fact]
    public async Task FillerDies_WaitersGetAMissAtTheTokensExpiry_AndTheNextCallerIsToldToFill()
    {
        var cache = await NewNamespaceAsync();
        var filler = await cache.GetAsync("prompt-2", fill: true, waitMs: 30_000);
        Assert.NotNull(filler.FillToken);

        var waiter = cache.GetAsync("prompt-2", fill: true, waitMs: 30_000);
        await Wait.UntilAsync(async () => (await cache.GetStatsAsync())!.Waiters == 1, TimeSpan.FromSeconds(10), "the second caller to wait for the fill");
        // The filler never writes back: its token expires after the namespace's fillTimeoutMs (5 s of the fake clock).
        InMemoryClusterFixture.Time.Advance(TimeSpan.FromMilliseconds(5_000));
        var waited = await waiter.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        var next = await cache.GetAsync("prompt-2", fill: true, waitMs: 0);

        Assert.Equal(ResponseCacheLookupStatus.Miss, waited.Status);
        Assert.Null(waited.FillToken);
        Assert.False(waited.FillPending);
        Assert.NotNull(next.FillToken);
        Assert.NotEqual(filler.FillToken, next.FillToken);
        var late = await cache.PutAsync("prompt-2", ResponseCachePut.Text("late", fillToken: filler.FillToken));
        Assert.False(late.FillCompleted); // the expired token completes nothing, though the value is kept
        Assert.Equal("late", (await cache.GetAsync("prompt-2")).Entry!.GetValueText());
    }

    [Fact]
    public async Task FillerGivesUp_WaitersGetAMissAtOnce()
    {
        var cache = await NewNamespaceAsync();
        var filler = await cache.GetAsync("prompt-3", fill: true);
        var waiter = cache.GetAsync("prompt-3", fill: true, waitMs: 30_000);
        await Wait.UntilAsync(async () => (await cache.GetStatsAsync())!.Waiters == 1, TimeSpan.FromSeconds(10), "the second caller to wait for the fill");

        var gaveUp = await cache.RemoveAsync("prompt-3", filler.FillToken);
        var waited = await waiter.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.True(gaveUp);
        Assert.Equal(ResponseCacheLookupStatus.Miss, waited.Status);
        Assert.Null(waited.FillToken);
    }

    [Fact]
    public async Task WithoutWaiting_AConcurrentMissIsToldAFillIsPending()
    {
        var cache = await NewNamespaceAsync();
        var filler = await cache.GetAsync("prompt-4", fill: true);

        var other = await cache.GetAsync("prompt-4", fill: true, waitMs: 0);
        var plain = await cache.GetAsync("prompt-4");

        Assert.NotNull(filler.FillToken);
        Assert.Equal((ResponseCacheLookupStatus.Miss, null, true), (other.Status, other.FillToken, other.FillPending));
        Assert.True(plain.FillPending);
    }

    [Fact]
    public async Task Ttl_FromTheNamespaceDefaultOrTheWrite()
    {
        var cache = await NewNamespaceAsync(ResponseCacheSettings.Default with { DefaultTtlMs = 10_000 });
        await cache.PutAsync("default-ttl", ResponseCachePut.Text("a"));
        await cache.PutAsync("own-ttl", ResponseCachePut.Text("b", ttlMs: 2_000));

        InMemoryClusterFixture.Time.Advance(TimeSpan.FromMilliseconds(2_000));
        var ownAfter2s = await cache.GetAsync("own-ttl");
        var defaultAfter2s = await cache.GetAsync("default-ttl");
        InMemoryClusterFixture.Time.Advance(TimeSpan.FromMilliseconds(8_000));
        var defaultAfter10s = await cache.GetAsync("default-ttl");

        Assert.Equal(ResponseCacheLookupStatus.Miss, ownAfter2s.Status);
        Assert.Equal(ResponseCacheLookupStatus.Hit, defaultAfter2s.Status);
        Assert.Equal(ResponseCacheLookupStatus.Miss, defaultAfter10s.Status);
    }

    [Fact]
    public async Task Similar_ThroughTheGrainInterface_BestFirstAboveTheThreshold()
    {
        var cache = await NewNamespaceAsync();
        await cache.PutAsync("x", ResponseCachePut.Text("about x", embedding: [1, 0, 0]));
        await cache.PutAsync("xy", ResponseCachePut.Text("about x and y", embedding: [1, 1, 0]));
        await cache.PutAsync("z", ResponseCachePut.Text("about z", embedding: [0, 0, 1]));

        var result = await cache.SimilarAsync(new ResponseCacheSimilarQuery([1, 0.1f, 0], MinScore: 0.5f));

        Assert.Equal(["x", "xy"], result.Matches!.Select(m => m.Key));
        Assert.True(result.Matches![0].Score > result.Matches[1].Score);
        Assert.Equal("about x", result.Matches[0].Entry.GetValueText());
    }

    [Fact]
    public async Task Reconfigure_LowerBoundsEvict_NewDimensionDropsEverything()
    {
        var cache = await NewNamespaceAsync();
        for (var i = 0; i < 5; i++)
        {
            await cache.PutAsync($"k{i}", ResponseCachePut.Text("v", embedding: [1, i, 0]));
        }

        var smaller = await cache.ConfigureAsync(ResponseCacheSettings.Default with { MaxEntries = 2, Dimension = 3 });
        var redimensioned = await cache.ConfigureAsync(ResponseCacheSettings.Default with { Dimension = 8 });

        Assert.Equal((2L, 3L), (smaller.Entries, smaller.Evictions));
        Assert.Equal(0, redimensioned.Entries);
        Assert.Equal(ResponseCacheLookupStatus.Miss, (await cache.GetAsync("k4")).Status);
    }

    [Fact]
    public async Task BadInput_NamesTheField()
    {
        var cache = await NewNamespaceAsync();

        var wrongDimension = await Assert.ThrowsAsync<CoordinatorValidationException>(() => cache.PutAsync("k", ResponseCachePut.Text("v", embedding: [1, 2])));
        var nan = await Assert.ThrowsAsync<CoordinatorValidationException>(() => cache.SimilarAsync(new ResponseCacheSimilarQuery([1, float.NaN, 0], 0.5f)));
        var zeros = await Assert.ThrowsAsync<CoordinatorValidationException>(() => cache.SimilarAsync(new ResponseCacheSimilarQuery([0, 0, 0], 0.5f)));
        var score = await Assert.ThrowsAsync<CoordinatorValidationException>(() => cache.SimilarAsync(new ResponseCacheSimilarQuery([1, 0, 0], 1.5f)));
        var huge = await Assert.ThrowsAsync<CoordinatorValidationException>(() => cache.PutAsync("k", new ResponseCachePut(new byte[(1024 * 1024) + 1])));
        var key = await Assert.ThrowsAsync<CoordinatorValidationException>(() => cache.GetAsync("has space"));
        var settings = await Assert.ThrowsAsync<CoordinatorValidationException>(() => cache.ConfigureAsync(ResponseCacheSettings.Default with { Dimension = 4_097 }));

        Assert.Equal(["embedding", "embedding", "embedding", "minScore", "value", "key", "dimension"],
            new[] { wrongDimension, nan, zeros, score, huge, key, settings }.Select(e => e.Field));
    }

    [Fact]
    public async Task UnknownNamespace_AnswersNoNamespace()
    {
        var cache = fixture.Grains.GetGrain<IResponseCacheGrain>(GrainKeys.ResponseCacheNamespace(TestKeys.User("tenant"), "none"));

        Assert.Equal(ResponseCacheLookupStatus.NoNamespace, (await cache.GetAsync("k")).Status);
        Assert.Equal(ResponseCacheWriteStatus.NoNamespace, (await cache.PutAsync("k", ResponseCachePut.Text("v"))).Status);
        Assert.Null((await cache.SimilarAsync(new ResponseCacheSimilarQuery([1], 0))).Matches);
        Assert.Equal(-1, await cache.InvalidateAsync(["t"]));
        Assert.Null(await cache.GetStatsAsync());
        Assert.False(await cache.DeleteAsync());
    }
}
