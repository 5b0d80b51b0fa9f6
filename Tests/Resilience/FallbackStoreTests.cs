using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Resilience;
using Orleans.Coordinator.Tests.Infrastructure;
using StackExchange.Redis;

namespace Orleans.Coordinator.Tests.Resilience;

/// <summary>The Redis fallback scripts against a real redis-server, as two gateways (two connections) use them.</summary>
public sealed class FallbackStoreTests : IAsyncLifetime
{
    private readonly string _prefix = TestKeys.Prefix("fb");
    private RedisServer _redis = null!;
    private ConnectionMultiplexer _first = null!;
    private ConnectionMultiplexer _second = null!;

    public async ValueTask InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        _first = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
        _second = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        await _first.DisposeAsync();
        await _second.DisposeAsync();
        await _redis.DisposeAsync();
    }

    private FallbackStore Store(IConnectionMultiplexer connection)
    {
        // A generous timeout: these tests are about the scripts' exactness, not the latency bound.
        var resilience = new ResilienceState(true, Options.Create(new ResilienceOptions { DataPlaneTimeout = TimeSpan.FromSeconds(5) }), TimeProvider.System, NullLogger<ResilienceState>.Instance);
        return new FallbackStore(connection, Options.Create(new CoordinatorRedisOptions { KeyPrefix = _prefix }), Options.Create(new CoordinatorClusterOptions()), resilience);
    }

    [Fact(Timeout = 60_000)]
    public async Task Leases_FromTwoGatewaysAtOnce_AreGrantedExactlyUpToTheLimit()
    {
        var (a, b) = (Store(_first), Store(_second));
        var user = TestKeys.User("fbl");

        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => (i % 2 == 0 ? a : b).AcquireLeaseAsync(user, 7, 60_000, $"proxy-{i % 2}")));
        var granted = results.Where(r => r.Granted).ToList();
        var listed = await b.ListLeasesAsync(user);

        Assert.Equal(7, granted.Count);
        Assert.All(granted, r => Assert.StartsWith("fb-", r.LeaseId, StringComparison.Ordinal));
        Assert.Equal(granted.Select(r => r.LeaseId).Order(), listed.Select(l => l.LeaseId).Order());
        Assert.True(await a.ReleaseLeaseAsync(user, granted[0].LeaseId!));
        Assert.False(await b.ReleaseLeaseAsync(user, granted[0].LeaseId!));
        Assert.True((await b.AcquireLeaseAsync(user, 7, 60_000, "proxy-1")).Granted);
        Assert.False((await a.AcquireLeaseAsync(user, 7, 60_000, "proxy-0")).Granted);
        Assert.True(await a.RenewLeaseAsync(user, granted[1].LeaseId!, 120_000) > DateTimeOffset.UtcNow.AddSeconds(100).ToUnixTimeMilliseconds());
        Assert.Equal(0, await a.RenewLeaseAsync(user, "fb-unknown", 120_000));
    }

    [Fact(Timeout = 60_000)]
    public async Task Leases_CountTheGrainsPersistedLeases_AndItsLimitOverride()
    {
        var store = Store(_first);
        var (counted, overridden) = (TestKeys.User("grainleases"), TestKeys.User("override"));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var db = _first.GetDatabase();
        var serviceId = new CoordinatorClusterOptions().ServiceId;
        // The grain's state as the lease grain persists it: two live leases and one expired.
        await db.HashSetAsync(GrainKeys.RedisUserLeaseStateKey(_prefix, serviceId, counted), "data",
            $$"""{"maxConnections":null,"leases":[{"leaseId":"a","expiresAtMs":{{now + 60_000}}},{"leaseId":"b","expiresAtMs":{{now + 60_000}}},{"leaseId":"c","expiresAtMs":{{now - 1}}}]}""");
        await db.HashSetAsync(GrainKeys.RedisUserLeaseStateKey(_prefix, serviceId, overridden), "data", """{"maxConnections":1,"leases":[]}""");

        var grants = 0;
        while ((await store.AcquireLeaseAsync(counted, 5, 60_000, "p")).Granted)
        {
            grants++;
        }

        var first = await store.AcquireLeaseAsync(overridden, 5, 60_000, "p");
        var second = await store.AcquireLeaseAsync(overridden, 5, 60_000, "p");

        Assert.Equal(3, grants);
        Assert.Equal((true, 1), (first.Granted, first.Limit));
        Assert.Equal((false, 1, 1), (second.Granted, second.Active, second.Limit));
    }

    [Fact(Timeout = 60_000)]
    public async Task Counters_AreAllOrNothing_AcrossGateways()
    {
        var (a, b) = (Store(_first), Store(_second));
        var (narrow, wide) = (TestKeys.User("narrow"), TestKeys.User("wide"));
        FallbackCounter[] both = [Counter(narrow, 2, 1), Counter(wide, 5, 1)];

        var outcomes = new List<bool>();
        foreach (var store in new[] { a, b, a })
        {
            outcomes.Add((await store.CheckCountersAsync(both)).Allowed);
        }

        var peek = await b.CheckCountersAsync([Counter(wide, 5, 0)]);
        Assert.Equal([true, true, false], outcomes);
        Assert.Equal(2, peek.Results[0].Count);
        Assert.InRange(peek.Results[0].ResetAfterMs, 1, 60_000);
    }

    [Fact(Timeout = 60_000)]
    public async Task Counters_OfOneKeyUnderTwoRules_AreTwoCounters_SoAnOverrideCannotRestartTheRule()
    {
        // The RLS example of issue 13 in the fallback: [(user,bob)] under its rule and under a larger override (day-long
        // windows, so the test never straddles a window boundary).
        var (a, b) = (Store(_first), Store(_second));
        var key = GrainKeys.EnvoyCounter("edge", [("user", TestKeys.User("bob"))]);
        var rule = new Orleans.Coordinator.Grains.Interfaces.Tenants.RateLimitPolicy(Orleans.Coordinator.Grains.Interfaces.Tenants.RateLimitAlgorithm.FixedWindow, 10, 86_400_000, 0, false);
        var overridden = rule with { Limit = 1000, WindowMs = 2 * 86_400_000 };
        FallbackCounter[] both =
        [
            new(GrainKeys.RedisFallbackCounterId(key, rule), rule.Limit, rule.WindowMs, 1, false),
            new(GrainKeys.RedisFallbackCounterId(key, overridden), overridden.Limit, overridden.WindowMs, 1, false),
        ];

        var outcomes = new List<bool>();
        for (var i = 0; i < 11; i++)
        {
            outcomes.Add((await (i % 2 == 0 ? a : b).CheckCountersAsync(both)).Allowed);
        }

        var peek = await a.CheckCountersAsync([both[0] with { Cost = 0 }, both[1] with { Cost = 0 }]);
        Assert.Equal(10, outcomes.Count(o => o));
        Assert.False(outcomes[10]);
        Assert.Equal(10, peek.Results[0].Count);
        Assert.Equal(10, peek.Results[1].Count); // the refused request charged neither
    }

    [Fact(Timeout = 60_000)]
    public async Task ByteBudget_AndTokenBudget_HoldAcrossGateways()
    {
        var (a, b) = (Store(_first), Store(_second));
        var (user, tenant) = (TestKeys.User("fbb"), TestKeys.User("fbt"));

        var bytes = new[]
        {
            (await a.ConsumeBytesAsync(user, 100, 60_000, 60)).Allowed,
            (await b.ConsumeBytesAsync(user, 100, 60_000, 50)).Allowed,
            (await b.ConsumeBytesAsync(user, 100, 60_000, 40)).Allowed,
        };
        var periodEnd = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        var first = await a.ReserveTokensAsync(tenant, 100, 70, periodEnd);
        var refused = await b.ReserveTokensAsync(tenant, 100, 40, periodEnd);
        var commit = await b.CommitTokensAsync(tenant, first.ReservationId!, 50, 100);
        var again = await a.CommitTokensAsync(tenant, first.ReservationId!, 50, 100);
        var afterCommit = await b.ReserveTokensAsync(tenant, 100, 40, periodEnd);

        Assert.Equal([true, false, true], bytes);
        Assert.True(first.Granted);
        Assert.False(refused.Granted);
        Assert.Equal((true, 20L, 50L), (commit.Found, commit.Returned, commit.Charged));
        Assert.False(again.Found);
        Assert.Equal((true, 10L), (afterCommit.Granted, afterCommit.Remaining));
    }

    [Fact(Timeout = 60_000)]
    public async Task EveryFallbackKey_ExpiresByItself()
    {
        var store = Store(_first);
        await store.AcquireLeaseAsync(TestKeys.User("ttl"), 3, 60_000, "p");
        await store.ConsumeBytesAsync(TestKeys.User("ttl"), 100, 60_000, 1);
        await store.CheckCountersAsync([Counter(TestKeys.User("ttl"), 5, 1)]);
        await store.ReserveTokensAsync(TestKeys.User("ttl"), 100, 1, DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds());

        var keys = await _redis.KeysAsync($"{_prefix}fb:*");
        var db = _first.GetDatabase();
        var ttls = await Task.WhenAll(keys.Select(k => db.KeyTimeToLiveAsync(k)));

        Assert.Equal(4, keys.Count);
        Assert.All(ttls, ttl => Assert.True(ttl is { TotalMilliseconds: > 0 }, "every fallback key carries an expiry"));
    }

    /// <summary>A fixed-window counter (60 s) of tenant <c>t</c>, policy <c>p</c>, in the id form the gateway builds.</summary>
    private static FallbackCounter Counter(string key, long limit, long cost)
        => new(GrainKeys.RedisFallbackCounterId(GrainKeys.RateLimitCounter("t", "p", key), new RateLimitPolicy(RateLimitAlgorithm.FixedWindow, limit, 60_000, 0, false)), limit, 60_000, cost, false);
}
