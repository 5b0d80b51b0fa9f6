using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Resilience;
using Orleans.Coordinator.Tenants;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Gateway;

/// <summary>The gateway's tenant cache against real tenant grains: an invalidation is never undone by a lookup that began before it.</summary>
[Collection(InMemoryClusterCollection.Name)]
public sealed class TenantCacheTests(InMemoryClusterFixture fixture)
{
    private static RateLimitPolicy Limit(long limit) => new(RateLimitAlgorithm.FixedWindow, limit, 60_000, 0, false);

    [Fact(Timeout = 30_000)]
    public async Task LookupUnderWayDuringAnInvalidation_AnswersWhatItRead_ButDoesNotKeepIt()
    {
        var cache = new TenantCache(fixture.Grains, Options.Create(new CoordinatorGatewayOptions { TenantCacheTtl = TimeSpan.FromMinutes(5) }),
            new ResilienceState(false, Options.Create(new ResilienceOptions()), TimeProvider.System, NullLogger<ResilienceState>.Instance), TimeProvider.System);
        var tenant = TestKeys.User("cache");
        var grain = fixture.Grains.Get<ITenantConfigGrain>(tenant);
        await grain.PutPolicyAsync("api", Limit(1));

        // A lookup is under way (its grain call sent, not answered) when the entry is invalidated: it answers what it
        // reads, but does not keep it.
        var underWay = cache.GetPolicyAsync(tenant, "api").AsTask();
        Assert.False(underWay.IsCompleted, "the lookup answered before it could be raced");
        cache.InvalidatePolicy(tenant, "api");
        Assert.Equal(1, (await underWay)!.Limit);

        // So a change made now (even one whose announcement were lost) is read by the next lookup, not a kept copy.
        await grain.PutPolicyAsync("api", Limit(2));
        Assert.Equal(2, (await cache.GetPolicyAsync(tenant, "api"))!.Limit);

        // Without an invalidation in between, an answer is kept: a change not announced is not seen within the ttl.
        await grain.PutPolicyAsync("api", Limit(3));
        Assert.Equal(2, (await cache.GetPolicyAsync(tenant, "api"))!.Limit);
    }
}
