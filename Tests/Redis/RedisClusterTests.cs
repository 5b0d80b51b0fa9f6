using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Coordinator.Grains.Interfaces.Routing;
using Orleans.Coordinator.Tests.Infrastructure;
using StackExchange.Redis;

namespace Orleans.Coordinator.Tests.Redis;

/// <summary>Two silos on Redis membership and Redis storage, with real cluster-mode gateways in front.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class RedisClusterTests(RedisClusterFixture fixture, ITestOutputHelper output)
{
    [Fact(Timeout = 120_000)]
    public async Task ConcurrentAcquires_ThroughTwoGatewaysAndTwoSilos_AdmitExactlyTheLimit()
    {
        // Arrange
        const int limit = 7;
        const int attempts = 40;
        await using var gatewayA = await GatewayHost.StartAsync(fixture.GatewaySettings());
        await using var gatewayB = await GatewayHost.StartAsync(fixture.GatewaySettings());
        using var a = gatewayA.CreateClient(GatewayHost.ClientToken);
        using var b = gatewayB.CreateClient(GatewayHost.ClientToken);
        using var admin = gatewayA.CreateClient(GatewayHost.AdminToken);
        var user = TestKeys.User("exact");
        Assert.Equal(HttpStatusCode.OK, (await admin.PutJsonAsync($"/v1/users/{user}/limits", new { maxConnections = limit })).StatusCode);

        // Act: all acquires at once, alternating gateways.
        using var start = new SemaphoreSlim(0);
        var calls = Enumerable.Range(0, attempts).Select(async i =>
        {
            await start.WaitAsync(TestContext.Current.CancellationToken);
            var http = i % 2 == 0 ? a : b;
            return (await http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = $"proxy-{i % 4}" })).StatusCode;
        }).ToList();
        start.Release(attempts);
        var statuses = await Task.WhenAll(calls);

        // Assert
        Assert.Equal(limit, statuses.Count(s => s == HttpStatusCode.Created));
        Assert.Equal(attempts - limit, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        var status = await (await b.GetAsync($"/v1/users/{user}", TestContext.Current.CancellationToken)).JsonAsync();
        Assert.Equal(limit, status.GetProperty("activeConnections").GetInt32());
        var stored = await fixture.Grains.GetGrain<IUserLeaseGrain>(user).GetSnapshotAsync();
        Assert.Equal(limit, stored.Leases.Count);
    }

    [Fact(Timeout = 120_000)]
    public async Task KillSiloHoldingGrains_AcknowledgedLeasesReleasesMappingsAndFlushedBytesSurvive()
    {
        // Arrange: acknowledged writes on grains of one user and one identifier.
        var user = TestKeys.User("kill");
        var identifier = TestKeys.Identifier("kill");
        var leases = fixture.Grains.GetGrain<IUserLeaseGrain>(user);
        var bytes = fixture.Grains.GetGrain<IUserByteBudgetGrain>(user);
        var mapping = fixture.Grains.GetGrain<IRouteMappingGrain>(identifier);
        var kept1 = await leases.TryAcquireLeaseAsync(new LeaseAcquireRequest("proxy-1"));
        var released = await leases.TryAcquireLeaseAsync(new LeaseAcquireRequest("proxy-1"));
        var kept2 = await leases.TryAcquireLeaseAsync(new LeaseAcquireRequest("proxy-2"));
        Assert.True(await leases.ReleaseLeaseAsync(released.LeaseId!));
        await mapping.SetDestinationAsync("stalwart");
        await bytes.ConsumeBytesAsync(4096);
        await WaitForFlushedBytesAsync(user, 4096);

        // Act: kill the silo that hosts the lease grain, without a graceful shutdown.
        var victim = await fixture.SiloHostingAsync(leases);
        await fixture.Cluster.KillSiloAsync(victim, TestContext.Current.CancellationToken);
        var killedAt = Stopwatch.StartNew();

        // Assert: within a bounded time every key answers again, from what was persisted.
        LeaseSnapshot? snapshot = null;
        await Wait.UntilAsync(async () =>
        {
            snapshot = await leases.GetSnapshotAsync();
            return true;
        }, TimeSpan.FromSeconds(20), $"lease grain of {user} to answer after its silo was killed");
        output.WriteLine($"Lease grain answered again {killedAt.ElapsedMilliseconds} ms after the kill.");
        Assert.Equal(new[] { kept1.LeaseId, kept2.LeaseId }.Order(), snapshot!.Leases.Select(l => l.LeaseId).Order());
        Assert.Equal("stalwart", (await mapping.ResolveRouteAsync()).Destination);
        Assert.Equal(4096, (await bytes.GetSnapshotAsync()).Used);

        // Restore the cluster's size for the other tests of this collection.
        await fixture.Cluster.StartAdditionalSiloAsync();
    }

    [Fact(Timeout = 120_000)]
    public async Task ByteUsage_IsFlushedWithinTheInterval_AsPlainJson()
    {
        var user = TestKeys.User("flush");
        await fixture.Grains.GetGrain<IUserByteBudgetGrain>(user).ConsumeBytesAsync(777);

        var json = await WaitForFlushedBytesAsync(user, 777);

        Assert.DoesNotContain("$type", json, StringComparison.Ordinal);
        Assert.Contains("\"used\":777", json, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task StaleEtag_AnotherWriterGotThereFirst_GrainDecidesOnFreshState()
    {
        // Arrange: the grain has written once, so its state has an ETag.
        var user = TestKeys.User("etag");
        var grain = fixture.Grains.GetGrain<IUserLeaseGrain>(user);
        Assert.True((await grain.TryAcquireLeaseAsync(new LeaseAcquireRequest("p"))).Granted);
        var key = StateKey("userlease", user, "leases");
        await using var redis = await fixture.Redis.ConnectAsync();
        var db = redis.GetDatabase();
        Assert.True(await db.KeyExistsAsync(key), $"state hash {key} should exist");

        // Act: a second writer (as a duplicate activation would) fills the user to the limit with a new ETag.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var full = new
        {
            maxConnections = (int?)null,
            leases = Enumerable.Range(0, RedisClusterFixture.DefaultMaxConnections)
                .Select(i => new { leaseId = $"other{i}", instanceId = "elsewhere", ttlMs = 60_000, acquiredAtMs = now, expiresAtMs = now + 60_000 }),
        };
        await db.HashSetAsync(key, [new HashEntry("data", JsonSerializer.Serialize(full)), new HashEntry("etag", "written-elsewhere")]);
        var decision = await grain.TryAcquireLeaseAsync(new LeaseAcquireRequest("p"));

        // Assert: the stale activation's write failed; it reloaded and refused instead of over-granting.
        Assert.False(decision.Granted);
        Assert.Equal(RedisClusterFixture.DefaultMaxConnections, decision.Active);
    }

    [Fact(Timeout = 120_000)]
    public async Task MappingWrittenWithRedisCli_IsSeenByItsGrain_ThroughKeyspaceNotifications()
    {
        // Arrange
        var identifier = TestKeys.Identifier("cli");
        var grain = fixture.Grains.GetGrain<IRouteMappingGrain>(identifier);
        await using var redis = await fixture.Redis.ConnectAsync();
        var db = redis.GetDatabase();
        var key = GrainKeys.RedisRouteKey(fixture.KeyPrefix, identifier);

        // Act + Assert: an operator's SET is a plain string the grain reads.
        await db.StringSetAsync(key, "stalwart");
        Assert.Equal(new RouteResolution(identifier, "stalwart", RouteSource.Mapping), await grain.ResolveRouteAsync() with { ValidForMs = 0 });

        // A change behind the grain's back is seen without an invalidate, well inside the 30 s cache ttl: the silos
        // listen to keyspace notifications of route keys.
        await db.StringSetAsync(key, "moved");
        await Wait.UntilAsync(async () => (await grain.ResolveRouteAsync()).Destination == "moved", TimeSpan.FromSeconds(1),
            "the grain to serve the route changed behind its back (keyspace notification)");

        // Invalidate still forces a read.
        await grain.InvalidateAsync();
        Assert.Equal("moved", (await grain.ResolveRouteAsync()).Destination);

        // An empty value or a DEL answers the default.
        await db.StringSetAsync(key, string.Empty);
        await grain.InvalidateAsync();
        Assert.Equal(RouteSource.Default, (await grain.ResolveRouteAsync()).Source);

        // A PUT through the grain is a plain string for redis-cli.
        await grain.SetDestinationAsync("via-api");
        Assert.Equal("via-api", (string?)await db.StringGetAsync(key));
    }

    private async Task<string> WaitForFlushedBytesAsync(string user, long used)
    {
        await using var redis = await fixture.Redis.ConnectAsync();
        var key = StateKey("userbytebudget", user, "bytes");
        var json = string.Empty;
        await Wait.UntilAsync(async () =>
        {
            json = (string?)await redis.GetDatabase().HashGetAsync(key, "data") ?? string.Empty;
            return json.Contains($"\"used\":{used}", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(10), $"byte usage {used} of {user} to be flushed to {key}");
        return json;
    }

    private string StateKey(string grainType, string key, string stateName)
        => $"{GrainKeys.RedisGrainStatePrefix(fixture.KeyPrefix, fixture.ServiceId)}{grainType}/{key}/{stateName}";
}
