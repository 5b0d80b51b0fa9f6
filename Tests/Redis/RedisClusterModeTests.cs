using System.Diagnostics;
using System.Globalization;
using System.Net;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Tests.Infrastructure;
using StackExchange.Redis;

namespace Orleans.Coordinator.Tests.Redis;

/// <summary>
/// The whole storage layer on a Redis Cluster of three masters (<see cref="RedisClusterNodes"/>), with real Silo and
/// Gateway processes: membership, grain state spread over the masters, routes (and a <c>redis-cli -c SET</c> of one seen
/// at once through every master's keyspace events), the jti guard, leases and exact rate limits across a silo kill, and then,
/// with every silo gone, the Redis fallback scripts whose keys share a hash slot (a lease script reading the grain's
/// state, a rate-limit batch over tenants in several slots).
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class RedisClusterModeTests(ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 420_000)]
    public async Task ThreeMasters_CarryMembershipStateRoutesJtiAndTheFallback_ThroughASiloKill()
    {
        await using var nodes = await RedisClusterNodes.StartAsync();
        await using var cluster = await ProcessCluster.StartAsync("rcluster", silos: 2, redisConnectionString: nodes.ConnectionString);
        await using var redis = await nodes.ConnectAsync();
        var db = redis.GetDatabase();
        var http = cluster.Http;
        var prefix = CoordinatorRedisOptions.DefaultKeyPrefix;
        var serviceId = cluster.Common["Orleans__ServiceId"];

        // Membership: one hash on the cluster, with both silos in it.
        var membership = GrainKeys.RedisMembershipKey(prefix, serviceId, new CoordinatorClusterOptions().ClusterId);
        Assert.True((await db.HashLengthAsync(membership)) >= 2, $"{membership} lists fewer than two silos");

        // Leases: granted by the grains; their state hashes land on more than one master.
        var users = Enumerable.Range(0, 12).Select(_ => TestKeys.User("rc")).ToList();
        foreach (var user in users)
        {
            var lease = await http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "before-kill", ttlMs = 300_000 });
            Assert.Equal(HttpStatusCode.Created, lease.StatusCode);
            Assert.False(lease.Headers.Contains("X-Coordinator-Mode"), "a lease was not granted by the grains");
        }

        var masters = new HashSet<int>();
        foreach (var user in users)
        {
            var state = GrainKeys.RedisUserLeaseStateKey(prefix, serviceId, user);
            Assert.True(await db.KeyExistsAsync(state), $"no grain state at {state}");
            masters.Add((await nodes.LocateAsync(redis, state)).Port);

            // The fallback lease set shares the state's hash slot (the script reads both).
            Assert.Equal((await nodes.LocateAsync(redis, state)).Slot, (await nodes.LocateAsync(redis, GrainKeys.RedisFallbackLeaseKey(prefix, serviceId, user, redisCluster: true))).Slot);
        }

        Assert.True(masters.Count >= 2, $"12 users' state landed on {masters.Count} master(s)");

        // Rate limits: the grains count exactly.
        var tenant = TestKeys.User("rct");
        Assert.Equal(HttpStatusCode.OK, (await http.PutJsonAsync($"/v1/tenants/{tenant}/policies/api", new { algorithm = "fixedWindow", limit = 3, windowMs = 86_400_000 })).StatusCode);
        var codes = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            codes.Add((await http.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "k" })).StatusCode);
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], codes);

        // The jti guard: a token is accepted once.
        var exp = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds();
        var jti = Guid.NewGuid().ToString("N");
        var first = await http.PostJsonAsync("/v1/replay/check", new { jti, issuer = "https://idp.example", expiresAtMs = exp });
        var again = await http.PostJsonAsync("/v1/replay/check", new { jti, issuer = "https://idp.example", expiresAtMs = exp });
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.True((await first.JsonAsync()).GetProperty("firstUse").GetBoolean());
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);

        // Routes: one identifier on each master, its route written through the API, then changed with redis-cli against the
        // cluster; the gateway serves each change at once (each master publishes the keyspace events of its own keys).
        var byMaster = new Dictionary<int, string>();
        for (var i = 0; i < 1000 && byMaster.Count < nodes.Nodes.Count; i++)
        {
            var candidate = TestKeys.Identifier("rc");
            byMaster.TryAdd((await nodes.LocateAsync(redis, GrainKeys.RedisRouteKey(prefix, candidate))).Port, candidate);
        }

        Assert.Equal(nodes.Nodes.Count, byMaster.Count);
        var pushedMs = new List<double>();
        foreach (var (port, identifier) in byMaster)
        {
            Assert.Equal(HttpStatusCode.OK, (await http.PutJsonAsync($"/v1/mappings/{identifier}", new { destination = "imap-1" })).StatusCode);
            Assert.Equal("imap-1", await DestinationAsync(http, identifier));
            await RedisCliAsync(nodes.Nodes[0].Port, "-c", "SET", GrainKeys.RedisRouteKey(prefix, identifier), "imap-2");
            var pushed = Stopwatch.StartNew();
            await Wait.UntilAsync(async () => await DestinationAsync(http, identifier) == "imap-2", TimeSpan.FromSeconds(5), $"the gateway to serve a redis-cli -c SET of a route on the master :{port}");
            pushedMs.Add(pushed.Elapsed.TotalMilliseconds);
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"redis-cli -c SET of a route on each master served after {string.Join(", ", pushedMs.Select(m => m.ToString("0.0", CultureInfo.InvariantCulture)))} ms"));
        Assert.All(pushedMs, ms => Assert.True(ms < 1000, $"a route change took {ms:0} ms: keyspace events of its master were not seen (the copies last 30 s)"));

        // A silo is killed: its grains come back on the other from the cluster's state; leases before the kill are kept.
        cluster.Silos[0].KillHard();
        await Wait.UntilAsync(async () =>
        {
            var lease = await http.PostJsonAsync($"/v1/users/{TestKeys.User("after")}/connections", new { instanceId = "after-kill" });
            return lease.StatusCode == HttpStatusCode.Created && !lease.Headers.Contains("X-Coordinator-Mode");
        }, TimeSpan.FromSeconds(60), "the grains to grant leases again after a silo kill");
        foreach (var user in users)
        {
            // A grain of the killed silo answers once the cluster has declared that silo dead.
            await Wait.UntilAsync(async () =>
            {
                var leases = await http.GetAsync($"/v1/users/{user}/connections", Ct);
                return leases.StatusCode == HttpStatusCode.OK && (await leases.Content.ReadAsStringAsync(Ct)).Contains("before-kill", StringComparison.Ordinal);
            }, TimeSpan.FromSeconds(60), $"{user}'s lease from before the kill to be listed by its grain");
        }

        // Rate limits stay exact after the kill (counters live in memory, so a key whose shard was on the killed silo starts
        // its window again, as docs/tenants.md says: a fresh key is counted here).
        var afterKill = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            afterKill.Add((await http.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "after-kill" })).StatusCode);
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], afterKill);

        // The last silo is killed too: the gateway falls back to the Redis scripts. A user at its limit of one, held by a
        // grain lease, is refused by the lease script (which read the grain's state in the same slot); a fresh user is served.
        var capped = users[0];
        Assert.Equal(HttpStatusCode.OK, (await http.PutJsonAsync($"/v1/users/{capped}/limits", new { maxConnections = 1 })).StatusCode);
        var rule = new Orleans.Coordinator.Grains.Interfaces.Tenants.RateLimitPolicy(Orleans.Coordinator.Grains.Interfaces.Tenants.RateLimitAlgorithm.FixedWindow, 1, 86_400_000, 0, false);
        string CounterKey(string t) => GrainKeys.RedisFallbackCounterKey(prefix, GrainKeys.RedisFallbackCounterId(GrainKeys.RateLimitCounter(t, "api", "b"), rule), redisCluster: true);
        var tenantSlot = (await nodes.LocateAsync(redis, CounterKey(tenant))).Slot;
        var otherTenant = TestKeys.User("rct2");
        while ((await nodes.LocateAsync(redis, CounterKey(otherTenant))).Slot == tenantSlot)
        {
            otherTenant = TestKeys.User("rct2"); // the batch below must span two slots
        }

        Assert.Equal(HttpStatusCode.OK, (await http.PutJsonAsync($"/v1/tenants/{otherTenant}/policies/api", new { algorithm = "fixedWindow", limit = 1, windowMs = 86_400_000 })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.PostJsonAsync("/v1/ratelimit/check", new { tenant = otherTenant, policy = "api", key = "k", cost = 0 })).StatusCode); // the gateway caches the policy
        cluster.Silos[1].KillHard();
        await Wait.UntilAsync(async () => IsFallback(await http.PostJsonAsync($"/v1/users/{TestKeys.User("probe")}/connections", new { instanceId = "p" })),
            TimeSpan.FromSeconds(60), "the gateway to answer lease acquires from the Redis fallback");

        var refused = await http.PostJsonAsync($"/v1/users/{capped}/connections", new { instanceId = "fallback" });
        Assert.True(IsFallback(refused), "the capped user's acquire was not answered by the fallback");
        Assert.NotEqual(HttpStatusCode.Created, refused.StatusCode);
        var granted = await http.PostJsonAsync($"/v1/users/{users[1]}/connections", new { instanceId = "fallback" });
        Assert.Equal(HttpStatusCode.Created, granted.StatusCode);
        Assert.True(IsFallback(granted));

        // A rate-limit batch over the two tenants, whose counters are in different slots: all or none.
        var batch = new { checks = new[] { new { tenant = otherTenant, policy = "api", key = "b" }, new { tenant, policy = "api", key = "b" } } };
        var passed = await http.PostJsonAsync("/v1/ratelimit/check-batch", batch);
        var overOne = await http.PostJsonAsync("/v1/ratelimit/check-batch", batch);
        Assert.True(IsFallback(passed), "the batch was not answered by the fallback");
        Assert.Equal(HttpStatusCode.OK, passed.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, overOne.StatusCode);

        // The refused batch charged nothing: the tenant with limit 3 still has 2 left on key "b".
        var alone = await (await http.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "b", cost = 0 })).JsonAsync();
        Assert.Equal(2, alone.GetProperty("remaining").GetInt64());
    }

    private static bool IsFallback(HttpResponseMessage response)
        => response.Headers.TryGetValues("X-Coordinator-Mode", out var values) && values.Single() == "fallback";

    private static async Task<string> DestinationAsync(HttpClient http, string identifier)
        => (await (await http.GetAsync($"/v1/mappings/{identifier}", Ct)).JsonAsync()).GetProperty("destination").GetString()!;

    private static async Task RedisCliAsync(int port, params string[] arguments)
    {
        var result = await ExternalProgram.RunAsync("redis-cli", ["-p", port.ToString(CultureInfo.InvariantCulture), .. arguments], TimeSpan.FromSeconds(10));
        Assert.True(result.Code == 0 && result.Output.Trim() == "OK", $"redis-cli {string.Join(' ', arguments)}: {result.All}");
    }
}
