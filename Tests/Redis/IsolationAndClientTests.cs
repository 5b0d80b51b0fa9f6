using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Coordinator.Grains.Interfaces.Routing;
using Orleans.Coordinator.Tests.Infrastructure;
using Orleans.Runtime;
using StackExchange.Redis;

namespace Orleans.Coordinator.Tests.Redis;

[Collection(RedisClusterCollection.Name)]
public sealed class IsolationAndClientTests(RedisClusterFixture fixture)
{
    [Fact(Timeout = 120_000)]
    public async Task TwoDeployments_OnOneRedis_SeeNothingOfEachOther()
    {
        // Arrange: deployment B shares the Redis server, with its own key prefix and service id.
        var prefixB = TestKeys.Prefix("b");
        var clusterB = await RedisClusterFixture.StartClusterAsync(fixture.Redis, prefixB, silos: 1, cacheTtl: "00:00:01");
        try
        {
            var a = fixture.Grains;
            var b = clusterB.Client;
            var identifier = TestKeys.Identifier("iso");
            var user = TestKeys.User("iso");

            // Act
            await a.GetGrain<IRouteMappingGrain>(identifier).SetDestinationAsync("a-destination");
            await b.GetGrain<IRouteMappingGrain>(identifier).SetDestinationAsync("b-destination");
            for (var i = 0; i < RedisClusterFixture.DefaultMaxConnections; i++)
            {
                Assert.True((await a.GetGrain<IUserLeaseGrain>(user).TryAcquireLeaseAsync(new LeaseAcquireRequest("p"))).Granted);
            }

            // Assert: each deployment answers from its own state.
            Assert.Equal("a-destination", (await a.GetGrain<IRouteMappingGrain>(identifier).ResolveRouteAsync()).Destination);
            Assert.Equal("b-destination", (await b.GetGrain<IRouteMappingGrain>(identifier).ResolveRouteAsync()).Destination);
            Assert.False((await a.GetGrain<IUserLeaseGrain>(user).TryAcquireLeaseAsync(new LeaseAcquireRequest("p"))).Granted);
            Assert.Equal(0, (await b.GetGrain<IUserLeaseGrain>(user).GetSnapshotAsync()).Active);
            Assert.True((await b.GetGrain<IUserLeaseGrain>(user).TryAcquireLeaseAsync(new LeaseAcquireRequest("p"))).Granted);

            // Each cluster's membership lists only its own silos.
            Assert.Equal(fixture.Cluster.GetActiveSilos().Count(), (await a.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true, TestContext.Current.CancellationToken)).Count);
            Assert.Single(await b.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true, TestContext.Current.CancellationToken));

            // Every key B wrote is under B's prefix, and A wrote none there.
            var keysB = await fixture.Redis.KeysAsync($"{prefixB}*");
            Assert.Contains(keysB, k => k.Contains("/members/", StringComparison.Ordinal));
            Assert.Contains(keysB, k => k == GrainKeys.RedisRouteKey(prefixB, identifier));
            Assert.All(keysB, k => Assert.DoesNotContain(fixture.ServiceId, k, StringComparison.Ordinal));
            var all = await fixture.Redis.KeysAsync();
            Assert.All(all, k => Assert.True(k.StartsWith(fixture.KeyPrefix, StringComparison.Ordinal) || k.StartsWith(prefixB, StringComparison.Ordinal), $"key {k} is outside both prefixes"));

            // B's 1 s cache ttl: a redis-cli change is served within the ttl without an invalidate.
            await using var redis = await fixture.Redis.ConnectAsync();
            await redis.GetDatabase().StringSetAsync(GrainKeys.RedisRouteKey(prefixB, identifier), "b-changed");
            await Wait.UntilAsync(async () => (await b.GetGrain<IRouteMappingGrain>(identifier).ResolveRouteAsync()).Destination == "b-changed",
                TimeSpan.FromSeconds(5), "deployment B to serve a redis-cli change within its 1 s cache ttl");
        }
        finally
        {
            await clusterB.StopAllSilosAsync(CancellationToken.None);
            await clusterB.DisposeAsync();
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task InternalService_WithOrleansClientOverRedis_CallsGrainsDirectly()
    {
        // Arrange: a separate client host, configured as the README shows for internal services (the client package).
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Redis:ConnectionString"] = fixture.Redis.ConnectionString,
            ["Redis:KeyPrefix"] = fixture.KeyPrefix,
            ["Orleans:ClusterId"] = fixture.ClusterId,
            ["Orleans:ServiceId"] = fixture.ServiceId,
        });
        Orleans.Coordinator.Client.CoordinatorClientExtensions.AddCoordinatorClient(builder);
        using var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var grains = host.Services.GetRequiredService<IClusterClient>();
            GrainKeys.TryUser(TestKeys.User("svc"), out var user, out _);
            GrainKeys.TryIdentifier("  Internal-" + Guid.NewGuid().ToString("N") + "@Example.com", IdentifierNormalization.LowerCase, out var identifier, out _);

            // Act
            var lease = await grains.GetGrain<IUserLeaseGrain>(user!).TryAcquireLeaseAsync(new LeaseAcquireRequest("internal-service"));
            await grains.GetGrain<IRouteMappingGrain>(identifier!).SetDestinationAsync("stalwart");

            // Assert: the cluster's own client sees the same state.
            Assert.True(lease.Granted);
            Assert.Equal(1, (await fixture.Grains.GetGrain<IUserLeaseGrain>(user!).GetSnapshotAsync()).Active);
            Assert.Equal("stalwart", (await fixture.Grains.GetGrain<IRouteMappingGrain>(identifier!).ResolveRouteAsync()).Destination);
        }
        finally
        {
            await host.StopAsync(TestContext.Current.CancellationToken);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task ClusterGateway_Readiness_ReportsRedisAndCluster()
    {
        await using var gateway = await GatewayHost.StartAsync(fixture.GatewaySettings());
        using var http = gateway.CreateClient();

        var response = await http.GetAsync("/readyz", TestContext.Current.CancellationToken);
        var body = await response.JsonAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("cluster", body.GetProperty("deployment").GetString());
        Assert.Equal("normal", body.GetProperty("mode").GetString());
        Assert.Equal("Closed", body.GetProperty("breakers").GetProperty("cluster").GetString());
        var checks = body.GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("ready").GetBoolean());
        Assert.True(checks["redis"]);
        Assert.True(checks["cluster"]);
    }
}
