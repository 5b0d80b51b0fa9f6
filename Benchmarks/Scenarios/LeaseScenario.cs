using Orleans.Coordinator.Benchmarks.Harness;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using StackExchange.Redis;

namespace Orleans.Coordinator.Benchmarks.Scenarios;

/// <summary>
/// Connection lease acquire + release pairs over 10,000 users: the Orleans client calling the user lease grains
/// (each acquire and release persisted to Redis before it is acknowledged), against a Redis sorted-set script per
/// step (prune, count, add; then remove) - the way the source systems keep concurrent-connection counts.
/// </summary>
public static class LeaseScenario
{
    private const string AcquireScript = """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
        if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
        redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        return 1
        """;

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(TimeSpan duration, int rounds)
    {
        const int users = 10_000;
        await using var cluster = await BenchCluster.StartAsync(withGateway: true);
        await using var raw = new RawHttp(cluster.GatewayHttp!);
        var acquires = Enumerable.Range(0, users)
            .Select(i => RawHttp.Request("POST", $"/v1/users/u{i}/connections", BenchCluster.Token, """{"instanceId":"bench","ttlMs":60000}"""))
            .ToArray();
        var db = cluster.Redis.GetDatabase();
        var names = Enumerable.Range(0, users).Select(i => $"u{i}").ToArray();
        var keys = names.Select(n => (RedisKey)$"baseline:lease:{n}").ToArray();
        BenchPath[] paths =
        [
            new("redis-zset-script (baseline)", async i =>
            {
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                var member = $"l{i}";
                var key = keys[i % users];
                await db.ScriptEvaluateAsync(AcquireScript, [key], [now, 1_000, now + 60_000, member, 60_000]);
                await db.SortedSetRemoveAsync(key, member);
            }),
            new("orleans-client", async i =>
            {
                var grain = cluster.Grains.GetGrain<IUserLeaseGrain>(names[i % users]);
                var lease = await grain.TryAcquireLeaseAsync(new LeaseAcquireRequest("bench", 60_000));
                if (lease.LeaseId is { } id)
                {
                    await grain.ReleaseLeaseAsync(id);
                }
            }),

            // Two requests per pair: ops/s here are HTTP requests/s, comparable with /healthz's.
            new("gateway-http (acquire, release)", async i =>
            {
                var location = await raw.SendForLocationAsync(acquires[i % users]);
                await raw.SendExpectingSuccessAsync(RawHttp.Request("DELETE", location, BenchCluster.Token));
            }, PerOperation: 2, RatioTo: References.HealthzPath),
            new(References.HealthzPath, _ => raw.SendExpectingSuccessAsync(References.HealthzRequest), RatioTo: ""),
        ];
        var rows = new List<ResultRow>();
        foreach (var concurrency in new[] { 64 })
        {
            var measured = await LoadRunner.CompareAsync("lease-acquire-release-pair", paths, concurrency, users, duration, rounds);
            rows.AddRange(measured);
            Report.Print(measured);
        }

        return rows;
    }
}
