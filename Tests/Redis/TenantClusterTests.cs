using System.Net;
using System.Text;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Redis;

/// <summary>Tenant capabilities on two silos with Redis storage, through cluster-mode gateways.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class TenantClusterTests(RedisClusterFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task ConcurrentChecks_ThroughTwoGateways_AdmitExactlyTheLimit()
    {
        // Arrange
        const int limit = 10;
        const int attempts = 60;
        await using var gatewayA = await GatewayHost.StartAsync(fixture.GatewaySettings());
        await using var gatewayB = await GatewayHost.StartAsync(fixture.GatewaySettings());
        using var a = gatewayA.CreateClient(GatewayHost.AdminToken);
        using var b = gatewayB.CreateClient(GatewayHost.ClientToken);
        var tenant = TestKeys.User("exact-tenant");
        Assert.Equal(HttpStatusCode.OK, (await a.PutJsonAsync($"/v1/tenants/{tenant}/policies/api", new { algorithm = "fixedWindow", limit, windowMs = 3_600_000 })).StatusCode);

        // Act
        using var start = new SemaphoreSlim(0);
        var calls = Enumerable.Range(0, attempts).Select(async i =>
        {
            await start.WaitAsync(Ct);
            var http = i % 2 == 0 ? a : b;
            return (await http.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "shared" })).StatusCode;
        }).ToList();
        start.Release(attempts);
        var statuses = await Task.WhenAll(calls);

        // Assert
        Assert.Equal(limit, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(attempts - limit, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
    }

    [Fact(Timeout = 120_000)]
    public async Task TokenCommitsPoliciesAndConfig_SurviveKillOfTheirSilo()
    {
        // Arrange: acknowledged writes.
        var tenant = TestKeys.User("durable");
        var budget = fixture.Grains.GetGrain<ITenantTokenBudgetGrain>(tenant);
        var config = fixture.Grains.GetGrain<ITenantConfigGrain>(tenant);
        await budget.SetBudgetAsync(10_000, TokenBudgetPeriod.Day);
        var reservation = await budget.ReserveAsync(4000, 60_000);
        await budget.CommitAsync(reservation!.ReservationId!, 1234);
        var open = await budget.ReserveAsync(100, 60_000);
        await config.PutPolicyAsync("api", new RateLimitPolicy(RateLimitAlgorithm.SlidingWindow, 50, 60_000, 0, false));
        await config.PutConfigAsync("""{"model":"large"}""", null);

        // Act + Assert: kill the silo of the budget grain; then, with a fresh silo started, the config grain's.
        await fixture.Cluster.KillSiloAsync(await fixture.SiloHostingAsync(budget), Ct);
        TokenBudgetSnapshot? snapshot = null;
        await Wait.UntilAsync(async () => (snapshot = await budget.GetSnapshotAsync()) is not null, TimeSpan.FromSeconds(30),
            $"token budget grain of {tenant} to answer after its silo was killed");
        Assert.Equal((10_000L, 1234L, 100L), (snapshot!.Budget, snapshot.Used, snapshot.Reserved));
        Assert.True((await budget.CommitAsync(open!.ReservationId!, 100))!.Found);

        await fixture.Cluster.StartAdditionalSiloAsync();
        await Wait.UntilAsync(async () => await config.GetConfigAsync() is not null, TimeSpan.FromSeconds(30),
            $"tenant config grain of {tenant} to answer before its silo is killed");
        await fixture.Cluster.KillSiloAsync(await fixture.SiloHostingAsync(config), Ct);
        RateLimitPolicy? policy = null;
        await Wait.UntilAsync(async () => (policy = await config.GetPolicyAsync("api")) is not null, TimeSpan.FromSeconds(30),
            $"tenant config grain of {tenant} to answer after its silo was killed");
        Assert.Equal(50, policy!.Limit);
        Assert.Equal(new TenantConfigDocument("""{"model":"large"}""", 1), await config.GetConfigAsync());

        await fixture.Cluster.StartAdditionalSiloAsync();
    }

    [Fact(Timeout = 120_000)]
    public async Task ConfigChange_ThroughOneGateway_IsSeenByAnotherWithinItsCacheTtl()
    {
        var settings = fixture.GatewaySettings();
        settings["Gateway:TenantCacheTtl"] = "00:00:01";
        await using var gatewayA = await GatewayHost.StartAsync(settings);
        await using var gatewayB = await GatewayHost.StartAsync(settings);
        using var a = gatewayA.CreateClient(GatewayHost.AdminToken);
        using var b = gatewayB.CreateClient(GatewayHost.ClientToken);
        var tenant = TestKeys.User("cache");
        await a.PutAsync($"/v1/tenants/{tenant}/config", new StringContent("""{"v":1}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal("\"1\"", (await b.GetAsync($"/v1/tenants/{tenant}/config", Ct)).Headers.ETag?.Tag);

        await a.PutAsync($"/v1/tenants/{tenant}/config", new StringContent("""{"v":2}""", Encoding.UTF8, "application/json"), Ct);

        Assert.Equal("\"2\"", (await a.GetAsync($"/v1/tenants/{tenant}/config", Ct)).Headers.ETag?.Tag);
        await Wait.UntilAsync(async () => (await b.GetAsync($"/v1/tenants/{tenant}/config", Ct)).Headers.ETag?.Tag == "\"2\"",
            TimeSpan.FromSeconds(3), "gateway B to serve version 2 within its 1 s tenant cache ttl");
    }
}
