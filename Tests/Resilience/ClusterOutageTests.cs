using System.Diagnostics;
using System.Globalization;
using System.Net;
using Orleans.Coordinator.Tests.Infrastructure;
using Orleans.TestingHost;

namespace Orleans.Coordinator.Tests.Resilience;

/// <summary>
/// Chaos: every silo stopped. Two gateways (each its own Orleans client and Redis connection) keep enforcing
/// leases and rate limits exactly through the Redis fallback with the default 50 ms data-plane timeout, and go
/// back to the grains by themselves when a silo returns.
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class ClusterOutageTests(ITestOutputHelper output)
{
    private const int UserLimit = RedisClusterFixture.DefaultMaxConnections;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 240_000)]
    public async Task EverySiloStopped_TwoGatewaysEnforceExactlyThroughRedis_AndReturnToTheGrains()
    {
        // Arrange: one silo, two gateways with the default resilience settings.
        await using var redis = await RedisServer.StartAsync();
        var prefix = TestKeys.Prefix("co");
        var cluster = await RedisClusterFixture.StartClusterAsync(redis, prefix, silos: 1);
        try
        {
            await using var first = await GatewayHost.StartAsync(Settings(redis, prefix, cluster));
            await using var second = await GatewayHost.StartAsync(Settings(redis, prefix, cluster));
            using var a = first.CreateClient();
            using var b = second.CreateClient();
            var tenant = TestKeys.User("tenant");
            Assert.Equal(HttpStatusCode.OK, (await a.PutJsonAsync($"/v1/tenants/{tenant}/policies/api", new { algorithm = "fixedWindow", limit = 10, windowMs = 86_400_000 })).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await a.PutJsonAsync("/v1/mappings/outage@example.com", new { destination = "stalwart-7" })).StatusCode);
            foreach (var http in new[] { a, b })
            {
                // Each gateway learns the policy (its tenant cache) and the user's limit before the outage.
                Assert.Equal(HttpStatusCode.OK, (await http.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "warm", cost = 0 })).StatusCode);
            }

            // A response-cache namespace with one entry, written while the cluster answers.
            var cacheBase = $"/v1/tenants/{tenant}/caches/gpt";
            Assert.Equal(HttpStatusCode.OK, (await a.PutJsonAsync(cacheBase, new { dimension = 4 })).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await a.PutJsonAsync($"{cacheBase}/entries/k1", new { value = "cached", embedding = new[] { 1f, 0, 0, 0 } })).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await b.GetAsync($"{cacheBase}/entries/k1", Ct)).StatusCode);

            var transitionUser = TestKeys.User("transition");
            var heldBefore = await a.PostJsonAsync($"/v1/users/{transitionUser}/connections", new { instanceId = "p" });
            Assert.Equal(HttpStatusCode.Created, heldBefore.StatusCode);
            Assert.False(heldBefore.Headers.Contains("X-Coordinator-Mode"), "before the outage the grains answer");

            // Act: every silo stops.
            foreach (var silo in cluster.Silos.ToList())
            {
                await cluster.KillSiloAsync(silo, Ct);
            }

            var stopped = Stopwatch.StartNew();
            await Wait.UntilAsync(async () => IsFallback(await a.PostJsonAsync($"/v1/users/{TestKeys.User("probe")}/connections", new { instanceId = "p" }))
                                               && IsFallback(await b.PostJsonAsync($"/v1/users/{TestKeys.User("probe")}/connections", new { instanceId = "p" })),
                TimeSpan.FromSeconds(30), "both gateways to answer lease acquires from the Redis fallback");
            var fallbackAfterMs = stopped.ElapsedMilliseconds;

            // Assert: leases exact across both gateways (40 concurrent acquires for one user, limit 5).
            var user = TestKeys.User("outage");
            var timed = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => TimedAsync(() => (i % 2 == 0 ? a : b).PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = $"p{i % 2}" }))));
            Assert.Equal(UserLimit, timed.Count(t => t.Response.StatusCode == HttpStatusCode.Created));
            Assert.True(40 - UserLimit == timed.Count(t => t.Response.StatusCode == HttpStatusCode.TooManyRequests),
                "answers: " + string.Join(", ", timed.GroupBy(t => (int)t.Response.StatusCode).Select(g => $"{g.Key} x{g.Count()}")) + "; " +
                string.Join(" | ", await Task.WhenAll(timed.Where(t => (int)t.Response.StatusCode >= 500).Take(2).Select(t => t.Response.Content.ReadAsStringAsync(Ct)))));
            Assert.All(timed, t => Assert.True(IsFallback(t.Response), "every answer is marked X-Coordinator-Mode: fallback"));

            // Rate limits exact across both gateways (60 concurrent checks, limit 10).
            var checks = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => TimedAsync(() => (i % 2 == 0 ? a : b).PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "k" }))));
            Assert.Equal(10, checks.Count(t => t.Response.StatusCode == HttpStatusCode.OK));
            Assert.Equal(50, checks.Count(t => t.Response.StatusCode == HttpStatusCode.TooManyRequests));
            Assert.All(checks, t => Assert.True(IsFallback(t.Response), "every rate-limit answer is marked fallback"));

            // Mappings are read straight from Redis; readiness fails, liveness holds.
            var mapping = await b.GetAsync("/v1/mappings/outage@example.com", Ct);
            Assert.Equal("stalwart-7", (await mapping.JsonAsync()).GetProperty("destination").GetString());
            Assert.True(IsFallback(mapping));
            var ready = await a.GetAsync("/readyz", Ct);
            var readyBody = await ready.JsonAsync();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Equal("fallback", readyBody.GetProperty("mode").GetString());
            Assert.Equal(HttpStatusCode.OK, (await a.GetAsync("/readyz?scope=data-plane", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await a.GetAsync("/healthz", Ct)).StatusCode);

            // The response cache (layer 2 of an AI gateway) never fails the request: a lookup is a miss, a write is
            // dropped with 202, a semantic lookup finds nothing; each marked degraded.
            var cacheMiss = await a.GetAsync($"{cacheBase}/entries/k1?fill=true&waitMs=100", Ct);
            await cacheMiss.AssertProblemAsync(HttpStatusCode.NotFound, "cache-miss");
            Assert.True(IsMode(cacheMiss, "degraded"), "a cache lookup in the outage is marked degraded");
            var cacheWrite = await b.PutJsonAsync($"{cacheBase}/entries/k2", new { value = "dropped" });
            Assert.Equal(HttpStatusCode.Accepted, cacheWrite.StatusCode);
            Assert.True(IsMode(cacheWrite, "degraded"), "a dropped cache write is marked degraded");
            Assert.False((await cacheWrite.JsonAsync()).GetProperty("stored").GetBoolean());
            var similar = await a.PostJsonAsync($"{cacheBase}/similar", new { embedding = new[] { 1f, 0, 0, 0 }, minScore = 0.5 });
            Assert.Equal(HttpStatusCode.OK, similar.StatusCode);
            Assert.True(IsMode(similar, "degraded"), "a semantic lookup in the outage is marked degraded");
            Assert.Equal(0, (await similar.JsonAsync()).GetProperty("matches").GetArrayLength());

            // The transition: the fallback counts the lease the grain granted (it reads the grain's persisted state).
            var transitionGrants = 0;
            while ((await a.PostJsonAsync($"/v1/users/{transitionUser}/connections", new { instanceId = "p" })).StatusCode == HttpStatusCode.Created)
            {
                transitionGrants++;
            }

            Assert.Equal(UserLimit - 1, transitionGrants);
            var slowest = timed.Concat(checks).Max(t => t.Elapsed.TotalMilliseconds);

            // Act: a silo comes back.
            await cluster.StartAdditionalSiloAsync();
            var restarted = Stopwatch.StartNew();
            await Wait.UntilAsync(async () => !IsFallback(await a.PostJsonAsync($"/v1/users/{TestKeys.User("back")}/connections", new { instanceId = "p" }))
                                               && !IsFallback(await b.PostJsonAsync($"/v1/users/{TestKeys.User("back")}/connections", new { instanceId = "p" })),
                TimeSpan.FromSeconds(60), "both gateways to answer from the grains again after a silo returned");
            var backAfterMs = restarted.ElapsedMilliseconds;

            // Assert: fallback leases are still honoured (listed, released) after the return.
            var listing = await (await a.GetAsync($"/v1/users/{user}/connections", Ct)).JsonAsync();
            var fallbackIds = listing.GetProperty("leases").EnumerateArray().Select(l => l.GetProperty("leaseId").GetString()!).ToList();
            Assert.Equal(UserLimit, fallbackIds.Count);
            Assert.Equal(HttpStatusCode.NoContent, (await b.DeleteAsync($"/v1/users/{user}/connections/{fallbackIds[0]}", Ct)).StatusCode);
            Assert.Equal(UserLimit - 1, (await (await a.GetAsync($"/v1/users/{user}/connections", Ct)).JsonAsync()).GetProperty("active").GetInt32());
            var returnGrants = 0;
            while ((await a.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" })).StatusCode == HttpStatusCode.Created)
            {
                returnGrants++;
            }

            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"fallback answering {fallbackAfterMs} ms after the last silo stopped; slowest fallback answer {slowest:0} ms; " +
                $"grains answering again {backAfterMs} ms after a silo started; over-admission at cluster->fallback: {transitionGrants + 1 - UserLimit} " +
                $"(1 grain lease live); at fallback->cluster: {returnGrants + UserLimit - 1 - UserLimit} ({returnGrants} grain grants beside {UserLimit - 1} live fallback leases, limit {UserLimit})"));

            // ...and the way back: the grain counts the fallback's live leases.
            Assert.Equal(1, returnGrants);
        }
        finally
        {
            await cluster.StopAllSilosAsync(CancellationToken.None);
            await cluster.DisposeAsync();
        }
    }

    private static Dictionary<string, string?> Settings(RedisServer redis, string prefix, TestCluster cluster)
        => RedisClusterFixture.StandaloneGatewaySettings(redis, prefix, cluster, new Dictionary<string, string?>
        {
            ["Leases:DefaultMaxConnections"] = UserLimit.ToString(CultureInfo.InvariantCulture),
        });

    private static bool IsFallback(HttpResponseMessage response) => IsMode(response, "fallback");

    private static bool IsMode(HttpResponseMessage response, string mode)
        => response.Headers.TryGetValues("X-Coordinator-Mode", out var values) && values.Single() == mode;

    private static async Task<(HttpResponseMessage Response, TimeSpan Elapsed)> TimedAsync(Func<Task<HttpResponseMessage>> call)
    {
        var watch = Stopwatch.StartNew();
        var response = await call();
        return (response, watch.Elapsed);
    }
}
