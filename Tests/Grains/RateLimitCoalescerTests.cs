using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Grains;

/// <summary>The client-side coalescer sends many decisions per grain call and decides exactly as direct calls would.</summary>
[Collection(InMemoryClusterCollection.Name)]
public sealed class RateLimitCoalescerTests(InMemoryClusterFixture fixture)
{
    private static readonly RateLimitPolicy TenPerHour = new(RateLimitAlgorithm.FixedWindow, 10, 3_600_000, 0, Shadow: false);

    [Fact]
    public async Task ConcurrentChecks_OnOneCounter_AdmitExactlyTheLimit_InFewerCallsThanChecks()
    {
        // Arrange
        await using var coalescer = new RateLimitCoalescer(fixture.Grains, maxBatch: 64, parallelBatches: 2);
        var counter = GrainKeys.RateLimitCounter(TestKeys.User("tenant"), "api", "k");

        // Act: 200 checks at once.
        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => coalescer.CheckAsync(counter, TenPerHour, 1)));

        // Assert
        Assert.Equal(10, results.Count(r => r.Allowed));
        Assert.Equal(190, results.Count(r => !r.Allowed && r.OverLimit));
        Assert.InRange(coalescer.Batches, 1, 199);
    }

    [Fact]
    public async Task ChecksOnManyCounters_AreEachDecidedByTheirOwnCounter()
    {
        // Arrange
        await using var coalescer = new RateLimitCoalescer(fixture.Grains);
        var tenant = TestKeys.User("tenant");
        var counters = Enumerable.Range(0, 30).Select(i => GrainKeys.RateLimitCounter(tenant, "api", $"k{i}")).ToList();

        // Act: 12 checks per counter, interleaved, all at once.
        var results = await Task.WhenAll(Enumerable.Range(0, 12).SelectMany(_ => counters).Select(c => coalescer.CheckAsync(c, TenPerHour, 1).ContinueWith(t => (c, t.Result), TaskScheduler.Default)));

        // Assert: every counter admitted exactly its 10, and a direct call sees the same counter.
        Assert.All(results.GroupBy(r => r.c), g => Assert.Equal(10, g.Count(r => r.Result.Allowed)));
        var direct = await fixture.Grains.GetGrain<IRateLimitGrain>(counters[0]).CheckAsync(TenPerHour, 0);
        Assert.Equal(0, direct.Remaining);
    }

    [Fact]
    public async Task AfterDispose_ChecksAreRefused()
    {
        var coalescer = new RateLimitCoalescer(fixture.Grains);
        await coalescer.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => coalescer.CheckAsync("t/p/k", TenPerHour, 1));
    }
}
