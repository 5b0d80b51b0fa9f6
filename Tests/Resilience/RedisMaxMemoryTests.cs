using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Orleans.Coordinator.Tests.Infrastructure;
using StackExchange.Redis;

namespace Orleans.Coordinator.Tests.Resilience;

/// <summary>
/// Chaos: Redis at maxmemory with the shipped eviction policy. Nothing of ours is evicted; the out-of-memory
/// error is handled like an outage (leases fail closed, jti fails hard) and service returns when memory does.
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed partial class RedisMaxMemoryTests(ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 240_000)]
    public async Task RedisFull_NothingIsEvicted_WritesFailLikeAnOutage_AndRecoverWhenMemoryIsFreed()
    {
        // Arrange: the shipped policy, a small maxmemory.
        var policy = ShippedPolicy().Match(File.ReadAllText(RepoPaths.Combine("deploy", "redis", "redis.conf"))).Groups[1].Value;
        Assert.Equal("noeviction", policy);
        await using var redis = await RedisServer.StartAsync($"--maxmemory 16mb --maxmemory-policy {policy}");
        var prefix = TestKeys.Prefix("mm");
        var cluster = await RedisClusterFixture.StartClusterAsync(redis, prefix, silos: 1);
        try
        {
            await using var gateway = await GatewayHost.StartAsync(RedisClusterFixture.StandaloneGatewaySettings(redis, prefix, cluster));
            using var http = gateway.CreateClient();
            var user = TestKeys.User("full");
            Assert.Equal(HttpStatusCode.Created, (await http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" })).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.PostJsonAsync("/v1/replay/check", Jti())).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.PutJsonAsync("/v1/mappings/full@example.com", new { destination = "d" })).StatusCode);
            var ours = (await redis.KeysAsync($"{prefix}*")).Order().ToList();

            // Act: someone else fills Redis to its limit.
            await using var operatorConnection = await redis.ConnectAsync();
            var db = operatorConnection.GetDatabase();
            var written = 0;
            foreach (var size in new[] { 64 * 1024, 1024, 16 })
            {
                // Large values first, then smaller ones, until even a tiny write is refused.
                var filler = new string('x', size);
                var full = false;
                while (!full && written < 20_000)
                {
                    try
                    {
                        await db.StringSetAsync($"junk:{written++}", filler);
                    }
                    catch (RedisServerException ex) when (ex.Message.StartsWith("OOM", StringComparison.Ordinal))
                    {
                        full = true;
                    }
                }

                Assert.True(full, $"Redis did not refuse {size}-byte writes after {written} values");
            }

            // Assert: writes fail like an outage, by each feature's contract; nothing of ours was evicted.
            await (await http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" })).AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            await (await http.PostJsonAsync("/v1/replay/check", Jti())).AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            var info = await operatorConnection.GetServer(operatorConnection.GetEndPoints()[0]).InfoAsync("stats");
            var evicted = info.SelectMany(g => g).Single(kv => kv.Key == "evicted_keys").Value;
            Assert.Equal("0", evicted);
            Assert.Equal(ours, (await redis.KeysAsync($"{prefix}*")).Where(k => !k.Contains(":fb:", StringComparison.Ordinal)).Order().ToList());

            // Act + Assert: memory is freed; leases are granted again without restarting anything.
            var watch = System.Diagnostics.Stopwatch.StartNew();
            foreach (var batch in Enumerable.Range(0, written).Chunk(500))
            {
                await db.KeyDeleteAsync([.. batch.Select(i => (RedisKey)$"junk:{i}")]);
            }

            await Wait.UntilAsync(async () => (await http.PostJsonAsync($"/v1/users/{TestKeys.User("after")}/connections", new { instanceId = "p" })).StatusCode == HttpStatusCode.Created,
                TimeSpan.FromSeconds(30), "lease acquires to succeed again once Redis had memory");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Redis refused writes after {written} values; evicted_keys {evicted}; {ours.Count} keys of ours all kept; leases granted again {watch.ElapsedMilliseconds} ms after memory was freed."));
        }
        finally
        {
            await cluster.StopAllSilosAsync(CancellationToken.None);
            await cluster.DisposeAsync();
        }
    }

    private static object Jti() => new { jti = Guid.NewGuid().ToString(), issuer = "i", expiresAtMs = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds() };

    [GeneratedRegex(@"^maxmemory-policy\s+(\S+)", RegexOptions.Multiline)]
    private static partial Regex ShippedPolicy();
}
