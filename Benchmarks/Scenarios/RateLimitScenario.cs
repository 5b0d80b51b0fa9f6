using System.Net.Http.Headers;
using System.Net.Http.Json;
using Orleans.Coordinator.Benchmarks.Harness;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using StackExchange.Redis;

namespace Orleans.Coordinator.Benchmarks.Scenarios;

/// <summary>
/// Rate-limit decisions, fixed window, over 10,000 keys and over 1 hot key, at 64 and 256 in flight:
/// the Orleans client calling the counter shard grains (one decision per call, and coalesced), the Gateway's
/// HTTP API and its Envoy RLS gRPC endpoint, against the baseline the source
/// systems use: StackExchange.Redis running one Lua script per decision (INCR, and PEXPIRE on the first hit).
/// </summary>
public static class RateLimitScenario
{
    private const string Script = """
        local c = redis.call('INCR', KEYS[1])
        if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return c
        """;

    private const int PerRequest = 16;

    /// <summary>A limit never reached: every path measures the decision, not refusals.</summary>
    private static readonly RateLimitPolicy Policy = new(RateLimitAlgorithm.FixedWindow, 1_000_000_000, 60_000, 0, Shadow: false);

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(TimeSpan duration, int rounds)
    {
        await using var cluster = await BenchCluster.StartAsync(withGateway: true);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = cluster.GatewayHttp };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BenchCluster.Token);
        var admin = await http.PutAsJsonAsync("/v1/tenants/bench/policies/api", new { algorithm = "fixedWindow", limit = 1_000_000_000, windowMs = 60_000 });
        admin.EnsureSuccessStatusCode();

        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(cluster.GatewayGrpc!);
        var rls = new Envoy.RateLimit.RateLimitService.RateLimitServiceClient(channel);
        var health = new Grpc.Health.V1.Health.HealthClient(channel);
        var auth = new Grpc.Core.Metadata { { "authorization", $"Bearer {BenchCluster.Token}" } };
        await using var coalescer = new RateLimitCoalescer(cluster.Grains);
        await using var raw = new RawHttp(cluster.GatewayHttp!);

        // The references measured in the same run: the same gateway's /healthz and gRPC health Check, an embedded
        // gateway (its silo in the process) with its own, and a bare minimal API as the machine's HTTP ceiling.
        var (embeddedHttp, embeddedGrpc) = await cluster.StartEmbeddedGatewayAsync();
        using var embeddedClient = new HttpClient { BaseAddress = embeddedHttp };
        embeddedClient.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BenchCluster.Token);
        (await embeddedClient.PutAsJsonAsync("/v1/tenants/bench/policies/api", new { algorithm = "fixedWindow", limit = 1_000_000_000, windowMs = 60_000 })).EnsureSuccessStatusCode();
        await using var embedded = new RawHttp(embeddedHttp);
        using var embeddedChannel = Grpc.Net.Client.GrpcChannel.ForAddress(embeddedGrpc);
        var embeddedRls = new Envoy.RateLimit.RateLimitService.RateLimitServiceClient(embeddedChannel);
        var embeddedHealth = new Grpc.Health.V1.Health.HealthClient(embeddedChannel);
        await using var bare = new RawHttp(await cluster.StartBareApiAsync());
        var healthCheck = new Grpc.Health.V1.HealthCheckRequest();

        var rows = new List<ResultRow>();
        foreach (var keys in new[] { 10_000, 1 })
        {
            var bodies = Enumerable.Range(0, keys)
                .Select(i => RawHttp.Request("POST", "/v1/ratelimit/check", BenchCluster.Token, $$"""{"tenant":"bench","policy":"api","key":"k{{i}}"}"""))
                .ToArray();
            var requests = Enumerable.Range(0, keys).Select(i => new Envoy.RateLimit.RateLimitRequest
            {
                Domain = "bench",
                Descriptors = { new Envoy.RateLimit.Common.RateLimitDescriptor { Entries = { new Envoy.RateLimit.Common.RateLimitDescriptor.Types.Entry { Key = "k", Value = $"v{i}" } } } },
            }).ToArray();
            var batchBodies = Enumerable.Range(0, keys)
                .Select(i => RawHttp.Request("POST", "/v1/ratelimit/check-batch", BenchCluster.Token,
                    $$"""{"checks":[{{string.Join(',', Enumerable.Range(0, PerRequest).Select(j => $$"""{"tenant":"bench","policy":"api","key":"k{{(i + (j * 7919)) % Math.Max(keys, PerRequest)}}"}"""))}}]}"""))
                .ToArray();
            var batchRequests = Enumerable.Range(0, keys).Select(i => new Envoy.RateLimit.RateLimitRequest
            {
                Domain = "bench",
                Descriptors =
                {
                    Enumerable.Range(0, PerRequest).Select(j => new Envoy.RateLimit.Common.RateLimitDescriptor
                    {
                        Entries = { new Envoy.RateLimit.Common.RateLimitDescriptor.Types.Entry { Key = "k", Value = $"v{(i + (j * 7919)) % Math.Max(keys, PerRequest)}" } },
                    }),
                },
            }).ToArray();
            List<BenchPath> paths =
            [
                .. CorePaths(cluster, coalescer, keys),
                new("gateway-http", i => raw.SendExpectingSuccessAsync(bodies[i % keys]), RatioTo: References.HealthzPath),
                new("gateway-envoy-rls-grpc", async i => await rls.ShouldRateLimitAsync(requests[i % keys], auth), RatioTo: References.GrpcHealthPath),
            ];
            if (keys > 1)
            {
                // Many decisions per request; and the references: what the HTTP and gRPC stacks cost here without a decision.
                paths.AddRange(
                [
                    new($"gateway-http check-batch ({PerRequest} per request)", i => raw.SendExpectingSuccessAsync(batchBodies[i % keys]), PerRequest, References.HealthzPath),
                    new($"gateway-envoy-rls-grpc ({PerRequest} descriptors per request)", async i => await rls.ShouldRateLimitAsync(batchRequests[i % keys], auth), PerRequest, References.GrpcHealthPath),
                    new(References.HealthzPath, _ => raw.SendExpectingSuccessAsync(References.HealthzRequest), RatioTo: References.BarePath),
                    new(References.GrpcHealthPath, async _ => await health.CheckAsync(healthCheck), RatioTo: ""),
                    new("embedded gateway-http", i => embedded.SendExpectingSuccessAsync(bodies[i % keys]), RatioTo: "embedded " + References.HealthzPath),
                    new("embedded gateway-envoy-rls-grpc", async i => await embeddedRls.ShouldRateLimitAsync(requests[i % keys], auth), RatioTo: "embedded " + References.GrpcHealthPath),
                    new("embedded " + References.HealthzPath, _ => embedded.SendExpectingSuccessAsync(References.HealthzRequest), RatioTo: References.BarePath),
                    new("embedded " + References.GrpcHealthPath, async _ => await embeddedHealth.CheckAsync(healthCheck), RatioTo: ""),
                    new(References.BarePath, i => bare.SendExpectingSuccessAsync(bodies[i % keys]), RatioTo: ""),
                ]);
            }

            foreach (var concurrency in new[] { 64, 256 }.Where(c => LoadRunner.Wanted(c, keys)))
            {
                var measured = await LoadRunner.CompareAsync("ratelimit-fixed-window", concurrency == 64 ? paths : paths[..5], concurrency, keys, duration, rounds);
                rows.AddRange(measured);
                Report.Print(measured);
            }
        }

        return rows;
    }

    /// <summary>
    /// The shape with two silo processes (the counter shards spread over both) on the same two cores: the Orleans
    /// client paths at 64 in flight over 10,000 keys, against the same baseline.
    /// </summary>
    public static async Task<IReadOnlyList<ResultRow>> RunTwoSilosAsync(TimeSpan duration, int rounds)
    {
        const int keys = 10_000;
        if (!LoadRunner.Wanted(64, keys))
        {
            return [];
        }

        await using var cluster = await BenchCluster.StartAsync(withGateway: false, silos: 2);
        await using var coalescer = new RateLimitCoalescer(cluster.Grains);
        var paths = CorePaths(cluster, coalescer, keys);
        var measured = await LoadRunner.CompareAsync("ratelimit-fixed-window, 2 silos", paths, 64, keys, duration, rounds);
        Report.Print(measured);
        return measured;
    }

    /// <summary>The baseline (one Lua script per decision) and the Orleans client paths: one shard call per decision, and coalesced.</summary>
    private static BenchPath[] CorePaths(BenchCluster cluster, RateLimitCoalescer coalescer, int keys)
    {
        var db = cluster.Redis.GetDatabase();
        var counters = Enumerable.Range(0, keys).Select(i => GrainKeys.RateLimitCounter("bench", "api", $"k{i}")).ToArray();
        var shards = counters.Select(c => cluster.Grains.GetGrain<IRateLimitShardGrain>(GrainKeys.RateLimitShard(c))).ToArray();
        var single = counters.Select(c => new[] { new RateLimitCheck(c, Policy, 1) }).ToArray();
        var redisKeys = Enumerable.Range(0, keys).Select(i => (RedisKey)$"baseline:rl:k{i}").ToArray();
        RedisValue[] ttl = [60_000];
        return
        [
            new("redis-lua (baseline)", async i => await db.ScriptEvaluateAsync(Script, [redisKeys[i % keys]], ttl)),
            new("orleans-client", async i => await shards[i % keys].CheckManyAsync(single[i % keys])),
            new("orleans-client-coalesced", async i => await coalescer.CheckAsync(counters[i % keys], Policy, 1)),
        ];
    }
}
