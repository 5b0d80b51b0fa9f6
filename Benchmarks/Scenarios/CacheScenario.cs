using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;
using Orleans.Coordinator.Benchmarks.Harness;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Caching;
using StackExchange.Redis;

namespace Orleans.Coordinator.Benchmarks.Scenarios;

/// <summary>
/// The AI gateway's response cache (issue 15): exact hits through the Gateway's HTTP API against the same gateway's
/// <c>/healthz</c> (and a Redis GET of the same value, what a Redis-backed LLM cache does); semantic lookups over
/// 10,000 entries of dimension 1,536 at 8 in flight, through an Orleans client and through HTTP, against an in-process
/// float32 brute-force scan; and the memory an entry costs.
/// </summary>
public static class CacheScenario
{
    private const string Tenant = "bench";
    private const int ExactKeys = 1_000;
    private const int ValueBytes = 1_024;
    private const int SemanticEntries = 10_000;
    private const int Dimension = 1_536;

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(TimeSpan duration, int rounds)
    {
        await using var cluster = await BenchCluster.StartAsync(withGateway: true);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = cluster.GatewayHttp };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BenchCluster.Token);
        var rows = new List<ResultRow>();
        rows.AddRange(await ExactAsync(cluster, http, duration, rounds));
        rows.AddRange(await SemanticAsync(cluster, http, duration, rounds));
        return rows;
    }

    private static async Task<IReadOnlyList<ResultRow>> ExactAsync(BenchCluster cluster, HttpClient http, TimeSpan duration, int rounds)
    {
        (await http.PutAsJsonAsync($"/v1/tenants/{Tenant}/caches/exact", new { maxEntries = 100_000 })).EnsureSuccessStatusCode();
        var value = new string('a', ValueBytes);
        var db = cluster.Redis.GetDatabase();
        var redisKeys = new RedisKey[ExactKeys];
        for (var i = 0; i < ExactKeys; i++)
        {
            (await http.PutAsJsonAsync($"/v1/tenants/{Tenant}/caches/exact/entries/k{i}", new { value })).EnsureSuccessStatusCode();
            redisKeys[i] = $"llmcache:k{i}";
            await db.StringSetAsync(redisKeys[i], value);
        }

        await using var raw = new RawHttp(cluster.GatewayHttp!);
        var hits = Enumerable.Range(0, ExactKeys).Select(i => RawHttp.Request("GET", $"/v1/tenants/{Tenant}/caches/exact/entries/k{i}", BenchCluster.Token)).ToArray();
        BenchPath[] paths =
        [
            new("redis-get 1 KiB (baseline)", async i => await db.StringGetAsync(redisKeys[i % ExactKeys])),
            new("gateway-http exact hit 1 KiB", i => raw.SendExpectingSuccessAsync(hits[i % ExactKeys]), RatioTo: References.HealthzPath),
            new(References.HealthzPath, _ => raw.SendExpectingSuccessAsync(References.HealthzRequest), RatioTo: ""),
        ];
        var measured = await LoadRunner.CompareAsync("cache-exact", paths, 64, ExactKeys, duration, rounds);
        Report.Print(measured);
        return measured;
    }

    private static async Task<IReadOnlyList<ResultRow>> SemanticAsync(BenchCluster cluster, HttpClient http, TimeSpan duration, int rounds)
    {
        (await http.PutAsJsonAsync($"/v1/tenants/{Tenant}/caches/semantic", new { maxEntries = 20_000, maxBytes = 1L << 30, dimension = Dimension })).EnsureSuccessStatusCode();
        var grain = cluster.Grains.GetGrain<IResponseCacheGrain>(GrainKeys.ResponseCacheNamespace(Tenant, "semantic"));
        var random = new Random(15);
        var (vectors, queries) = Embeddings(random);
        var value = new byte[256];
        for (var start = 0; start < SemanticEntries; start += 500)
        {
            await Task.WhenAll(Enumerable.Range(start, 500).Select(i => grain.PutAsync($"e{i}", new ResponseCachePut(value, Embedding: vectors[i]))));
        }

        // The naive reference: scoring every float32 vector, in this process, no network.
        var flat = new float[SemanticEntries * Dimension];
        for (var i = 0; i < SemanticEntries; i++)
        {
            var norm = MathF.Sqrt(TensorPrimitives.Dot(vectors[i], vectors[i]));
            TensorPrimitives.Divide(vectors[i], norm, flat.AsSpan(i * Dimension, Dimension));
        }

        var bodies = queries.Select(q => RawHttp.Request("POST", $"/v1/tenants/{Tenant}/caches/semantic/similar", BenchCluster.Token,
            JsonSerializer.Serialize(new { embedding = q, minScore = 0.8, topK = 5 }))).ToArray();
        var base64Bodies = queries.Select(q => RawHttp.Request("POST", $"/v1/tenants/{Tenant}/caches/semantic/similar", BenchCluster.Token,
            JsonSerializer.Serialize(new { embedding = Convert.ToBase64String(MemoryMarshal.AsBytes(q.AsSpan())), minScore = 0.8, topK = 5 }))).ToArray();
        await using var raw = new RawHttp(cluster.GatewayHttp!);
        BenchPath[] paths =
        [
            new("in-process float32 brute force (baseline)", i => Task.Run(() => BruteForce(flat, queries[i % queries.Length]))),
            new("orleans-client similar (10k x 1536)", async i =>
            {
                var result = await grain.SimilarAsync(new ResponseCacheSimilarQuery(queries[i % queries.Length], 0.8f));
                if (result.Matches is not { Length: > 0 })
                {
                    throw new InvalidOperationException("a query made from an entry found nothing");
                }
            }),
            new("gateway-http similar (10k x 1536)", i => raw.SendExpectingSuccessAsync(bodies[i % bodies.Length])),
            new("gateway-http similar, base64 embedding (10k x 1536)", i => raw.SendExpectingSuccessAsync(base64Bodies[i % base64Bodies.Length])),
        ];
        var measured = await LoadRunner.CompareAsync("cache-semantic", paths, 8, SemanticEntries, duration, rounds);
        Report.Print(measured);
        return measured;
    }

    /// <summary>
    /// Managed bytes per entry of a namespace's book in this process (10,000 entries of 1 KiB values; with and without
    /// an embedding of dimension 1,536), against the goal: the value plus 1.2x the float32 vector plus 300 bytes.
    /// </summary>
    public static IReadOnlyList<Dictionary<string, object>> MeasureMemory()
    {
        var rows = new List<Dictionary<string, object>>();
        var random = new Random(16);
        foreach (var dimension in new[] { Dimension, 0 })
        {
            var vectors = Enumerable.Range(0, SemanticEntries).Select(_ => dimension == 0 ? null : RandomVector(random, dimension)).ToArray();
            var values = Enumerable.Range(0, SemanticEntries).Select(_ => new byte[ValueBytes]).ToArray();
            var keys = Enumerable.Range(0, SemanticEntries).Select(i => $"sha256:{i:x58}").ToArray(); // 64 characters, like a prompt hash
            var before = ManagedBytes();
            var book = new ResponseCacheBook(SemanticEntries, 1L << 32, dimension == 0 ? null : dimension, new UnboundedCacheMemory(), ResponseCacheLimits.EntryBytes);
            for (var i = 0; i < SemanticEntries; i++)
            {
                book.Put(keys[i], values[i], 3_600_000, null, vectors[i], 0);
            }

            var after = ManagedBytes();
            GC.KeepAlive(book);
            GC.KeepAlive(vectors); // the caller's float32 inputs are not the entry's: kept out of both measurements
            // Values and keys were allocated before the baseline: count the value as the goal does, the key as overhead.
            var perEntry = (after - before) / SemanticEntries;
            var keyBytes = 20 + (2 * keys[0].Length);
            var measured = perEntry + ValueBytes + 24 + keyBytes;
            var goal = ValueBytes + (1.2 * 4 * dimension) + 300;
            rows.Add(new Dictionary<string, object>
            {
                ["scenario"] = "cache-memory",
                ["path"] = dimension == 0 ? "exact entry, 1 KiB value, 64-character key" : $"semantic entry, 1 KiB value, 64-character key, dimension {dimension}",
                ["keys"] = SemanticEntries,
                ["bytesPerEntry"] = measured,
                ["goalBytesPerEntry"] = Math.Round(goal),
                ["ratioToGoal"] = Math.Round(measured / goal, 3),
            });
            Console.WriteLine($"cache memory: {rows[^1]["path"]}: {measured} bytes per entry (goal {goal:0}: value + 1.2 x vector + 300)");
        }

        return rows;
    }

    private static int BruteForce(float[] flat, float[] query)
    {
        var norm = MathF.Sqrt(TensorPrimitives.Dot(query, query));
        var best = 0;
        var bestScore = float.MinValue;
        for (var i = 0; i < SemanticEntries; i++)
        {
            var score = TensorPrimitives.Dot(flat.AsSpan(i * Dimension, Dimension), query) / norm;
            if (score > bestScore)
            {
                (best, bestScore) = (i, score);
            }
        }

        return best;
    }

    /// <summary>Entries around 100 topics (as real embeddings cluster); queries are noisy copies of entries, so each has matches.</summary>
    private static (float[][] Vectors, float[][] Queries) Embeddings(Random random)
    {
        var topics = Enumerable.Range(0, 100).Select(_ => RandomVector(random, Dimension)).ToArray();
        var vectors = Enumerable.Range(0, SemanticEntries).Select(i => Noisy(random, topics[i % topics.Length], 0.8)).ToArray();
        var queries = Enumerable.Range(0, 200).Select(_ => Noisy(random, vectors[random.Next(SemanticEntries)], 0.15)).ToArray();
        return (vectors, queries);
    }

    private static float[] RandomVector(Random random, int dimension)
        => [.. Enumerable.Range(0, dimension).Select(_ => (float)((random.NextDouble() * 2) - 1))];

    private static float[] Noisy(Random random, float[] center, double noise)
        => [.. center.Select(c => (float)(c + (((random.NextDouble() * 2) - 1) * noise)))];

    private static long ManagedBytes()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
