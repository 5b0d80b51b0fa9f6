using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Coordinator.Resilience;
using Orleans.Coordinator.Tests.Infrastructure;
using StackExchange.Redis;

namespace Orleans.Coordinator.Tests.Resilience;

/// <summary>
/// A grain decision and a fallback decision for the same user at the same moment (one gateway reaching the cluster,
/// another answering from Redis): the fallback script fences the grain's state (it changes the stored ETag), so a
/// grain decision that did not see the fallback's lease fails its write, reloads and decides again. Together they
/// never grant more than the limit.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class GrainFallbackRaceTests(RedisClusterFixture fixture, ITestOutputHelper output)
{
    [Theory(Timeout = 120_000)]
    [InlineData(true)]
    [InlineData(false)]
    public async Task GrainAndFallbackAcquiresAtOnce_NeverGrantMoreThanTheLimit(bool userHasState)
    {
        // Arrange: a fallback store as a gateway's, on the cluster's Redis, key prefix and service id.
        await using var connection = await ConnectionMultiplexer.ConnectAsync(fixture.Redis.ConnectionString);
        var resilience = new ResilienceState(true, Options.Create(new ResilienceOptions { DataPlaneTimeout = TimeSpan.FromSeconds(5) }), TimeProvider.System, NullLogger<ResilienceState>.Instance);
        var fallback = new FallbackStore(connection, Options.Create(new CoordinatorRedisOptions { KeyPrefix = fixture.KeyPrefix }),
            Options.Create(new CoordinatorClusterOptions { ServiceId = fixture.ServiceId, ClusterId = fixture.ClusterId }), resilience);
        const int Users = 300;
        var limit = userHasState ? 1 : RedisClusterFixture.DefaultMaxConnections; // the gateways' default when the user has no override
        var users = Enumerable.Range(0, Users).Select(_ => TestKeys.User("race")).ToList();
        if (userHasState)
        {
            await Task.WhenAll(users.Select(u => fixture.Grains.GetGrain<IUserLeaseGrain>(u).SetConnectionLimitAsync(limit)));
        }

        // Act: per user, limit + 2 grain acquires and as many fallback acquires, interleaved, all at once.
        var outcomes = await Task.WhenAll(users.Select(async user =>
        {
            var grain = fixture.Grains.GetGrain<IUserLeaseGrain>(user);
            var attempts = Enumerable.Range(0, limit + 2).SelectMany(i => new[]
            {
                Grant(grain.TryAcquireLeaseAsync(new LeaseAcquireRequest($"grain-{i}"))),
                GrantFallback(fallback.AcquireLeaseAsync(user, limit, 60_000, $"fb-{i}")),
            }).ToList();
            var granted = (await Task.WhenAll(attempts)).Count(g => g);
            var snapshot = await grain.GetSnapshotAsync();
            return (user, granted, snapshot.Active);
        }));

        // Assert: never more than the limit, by the answers and by the user's own view.
        var over = outcomes.Where(o => o.granted > limit || o.Active > limit).ToList();
        output.WriteLine($"{Users} users (state before: {userHasState}): {outcomes.Sum(o => o.granted)} grants, {over.Count} over the limit.");
        Assert.True(over.Count == 0, $"{over.Count} users got more than {limit} leases: " + string.Join(", ", over.Take(5).Select(o => $"{o.user} granted {o.granted}, lists {o.Active}")));
        Assert.All(outcomes, o => Assert.Equal(o.granted, o.Active));

        async Task<bool> Grant(Task<LeaseAcquireResult> acquire) => (await acquire).Granted;
        async Task<bool> GrantFallback(Task<FallbackLeaseResult> acquire) => (await acquire).Granted;
    }

    [Fact(Timeout = 120_000)]
    public async Task FallbackLease_IsCountedByEveryViewOfTheUser()
    {
        // Issue 13: GET /v1/users/{u} said activeConnections 0 while the listing showed the user's fb- lease.
        await using var connection = await ConnectionMultiplexer.ConnectAsync(fixture.Redis.ConnectionString);
        var resilience = new ResilienceState(true, Options.Create(new ResilienceOptions { DataPlaneTimeout = TimeSpan.FromSeconds(5) }), TimeProvider.System, NullLogger<ResilienceState>.Instance);
        var fallback = new FallbackStore(connection, Options.Create(new CoordinatorRedisOptions { KeyPrefix = fixture.KeyPrefix }),
            Options.Create(new CoordinatorClusterOptions { ServiceId = fixture.ServiceId, ClusterId = fixture.ClusterId }), resilience);
        await using var gateway = await GatewayHost.StartAsync(fixture.GatewaySettings());
        using var http = gateway.CreateClient(GatewayHost.AdminToken);
        var user = TestKeys.User("views");
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.PutJsonAsync($"/v1/users/{user}/limits", new { maxConnections = 2 })).StatusCode);
        var granted = await fallback.AcquireLeaseAsync(user, 2, 60_000, "other-gateway");
        Assert.True(granted.Granted);

        var status = await (await http.GetAsync($"/v1/users/{user}", TestContext.Current.CancellationToken)).JsonAsync();
        var listing = await (await http.GetAsync($"/v1/users/{user}/connections", TestContext.Current.CancellationToken)).JsonAsync();
        var second = await http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "this-gateway" });
        var third = await http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "this-gateway" });
        var after = await (await http.GetAsync($"/v1/users/{user}", TestContext.Current.CancellationToken)).JsonAsync();

        Assert.Equal(1, status.GetProperty("activeConnections").GetInt32());
        Assert.Equal(1, listing.GetProperty("active").GetInt32());
        Assert.Equal(granted.LeaseId, listing.GetProperty("leases")[0].GetProperty("leaseId").GetString());
        Assert.Equal(System.Net.HttpStatusCode.Created, second.StatusCode);
        await third.AssertProblemAsync(System.Net.HttpStatusCode.TooManyRequests, "connection-limit");
        Assert.Equal(2, after.GetProperty("activeConnections").GetInt32());
    }
}
