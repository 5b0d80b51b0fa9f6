using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Grains;

/// <summary>
/// Rate-limit counters live in shard grains; the client-side coalescer sends many decisions per shard call and
/// decides exactly as one call per decision would.
/// </summary>
[Collection(InMemoryClusterCollection.Name)]
public sealed class RateLimitCoalescerTests(InMemoryClusterFixture fixture)
{
    private static readonly RateLimitPolicy TenPerHour = new(RateLimitAlgorithm.FixedWindow, 10, 3_600_000, 0, Shadow: false);

    [Fact]
    public async Task ConcurrentChecks_OnOneCounter_AdmitExactlyTheLimit_InFewerCallsThanChecks()
    {
        // Arrange
        await using var coalescer = new RateLimitCoalescer(fixture.Grains, maxBatch: 64);
        var counter = GrainKeys.RateLimitCounter(TestKeys.User("tenant"), "api", "k");

        // Act: 200 checks at once.
        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => coalescer.CheckAsync(counter, TenPerHour, 1)));

        // Assert
        Assert.Equal(10, results.Count(r => r.Allowed));
        Assert.Equal(190, results.Count(r => !r.Allowed && r.OverLimit));
        Assert.Equal(200, coalescer.Decisions);
        Assert.InRange(coalescer.Batches, 4, 199); // at most 64 per call, and fewer calls than checks
    }

    [Fact]
    public async Task ChecksOnManyCounters_AreEachDecidedByTheirOwnCounter()
    {
        // Arrange
        await using var coalescer = new RateLimitCoalescer(fixture.Grains);
        var tenant = TestKeys.User("tenant");
        var counters = Enumerable.Range(0, 30).Select(i => GrainKeys.RateLimitCounter(tenant, "api", $"k{i}")).ToList();

        // Act: 12 checks per counter, interleaved, all at once.
        var results = await Task.WhenAll(Enumerable.Range(0, 12).SelectMany(_ => counters)
            .Select(async c => (Counter: c, Result: await coalescer.CheckAsync(c, TenPerHour, 1))));

        // Assert: every counter admitted exactly its 10, and a direct call to the owning shard sees the same counter.
        Assert.All(results.GroupBy(r => r.Counter), g => Assert.Equal(10, g.Count(r => r.Result.Allowed)));
        var direct = await fixture.Grains.GetGrain<IRateLimitShardGrain>(GrainKeys.RateLimitShard(counters[0]))
            .CheckManyAsync([new RateLimitCheck(counters[0], TenPerHour, 0)]);
        Assert.Equal(0, direct[0].Remaining);
    }

    [Fact]
    public async Task ABadCheck_FailsOnlyItsCaller()
    {
        // Arrange
        await using var coalescer = new RateLimitCoalescer(fixture.Grains);
        var counter = GrainKeys.RateLimitCounter(TestKeys.User("tenant"), "api", "k");
        var good = Enumerable.Range(0, 20).Select(_ => coalescer.CheckAsync(counter, TenPerHour, 1)).ToList();

        // Act
        var bad = Assert.Throws<CoordinatorValidationException>(() => { _ = coalescer.CheckAsync(counter, TenPerHour with { Limit = 0 }, 1); });

        // Assert
        Assert.Equal("limit", bad.Field);
        Assert.Equal(10, (await Task.WhenAll(good)).Count(r => r.Allowed));
    }

    [Fact]
    public async Task AShard_RefusesACounterItDoesNotOwn_AndCountsNothing()
    {
        // Arrange: a caller that computes shards differently (another shard count) would send a key elsewhere.
        await using var coalescer = new RateLimitCoalescer(fixture.Grains);
        var counter = GrainKeys.RateLimitCounter(TestKeys.User("tenant"), "api", "k");
        var wrong = (GrainKeys.RateLimitShard(counter) + 1) % GrainKeys.RateLimitShardCount;

        // Act
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            fixture.Grains.GetGrain<IRateLimitShardGrain>(wrong).CheckManyAsync([new RateLimitCheck(counter, TenPerHour, 1)]));

        // Assert
        Assert.Contains(nameof(GrainKeys.RateLimitShardCount), ex.Message, StringComparison.Ordinal);
        Assert.Equal(10, (await coalescer.CheckAsync(counter, TenPerHour, 0)).Remaining);
    }

    [Fact]
    public async Task ARefund_GivesTheChargeBack_InItsWindow()
    {
        // Arrange
        await using var coalescer = new RateLimitCoalescer(fixture.Grains);
        var counter = GrainKeys.RateLimitCounter(TestKeys.User("tenant"), "api", "k");
        var charged = await coalescer.CheckAsync(counter, TenPerHour, 4);

        // Act
        await coalescer.RefundAsync([new RateLimitRefund(counter, TenPerHour, 4, charged.WindowStartMs)]);

        // Assert
        Assert.Equal(6, charged.Remaining);
        Assert.Equal(10, (await coalescer.CheckAsync(counter, TenPerHour, 0)).Remaining);
    }

    [Fact]
    public void Shards_AreStable_AndSpreadKeys()
    {
        var shards = Enumerable.Range(0, 10_000).Select(i => GrainKeys.RateLimitShard($"bench/api/k{i}")).ToList();

        // A fixed value pins the hash: every process and version must agree on it.
        Assert.Equal(GrainKeys.RateLimitShard("bench/api/k0"), shards[0]);
        Assert.Equal(0, GrainKeys.RateLimitShard("tenant/policy/key"));
        Assert.All(shards.GroupBy(s => s), g => Assert.InRange(g.Count(), 2300, 2700)); // 2500 each when even
    }

    [Fact]
    public async Task AfterDispose_ChecksAreRefused()
    {
        var coalescer = new RateLimitCoalescer(fixture.Grains);
        await coalescer.DisposeAsync();

        Assert.Throws<ObjectDisposedException>(() => { _ = coalescer.CheckAsync("t/p/k", TenPerHour, 1); });
    }
}
