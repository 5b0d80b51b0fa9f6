using System.Net.Http.Headers;
using System.Net.Http.Json;
using Orleans.Coordinator.Benchmarks.Harness;
using StackExchange.Redis;

namespace Orleans.Coordinator.Benchmarks.Scenarios;

/// <summary>
/// Route mapping lookups through the Gateway's HTTP API over 1,000 mapped identifiers (cache hits in the
/// mapping grains) and over identifiers never mapped (each a new grain: a miss that reads Redis once), against
/// a plain Redis GET of the route string.
/// </summary>
public static class MappingScenario
{
    public static async Task<IReadOnlyList<ResultRow>> RunAsync(TimeSpan duration, int rounds)
    {
        const int mapped = 1_000;
        await using var cluster = await BenchCluster.StartAsync(withGateway: true);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = cluster.GatewayHttp };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BenchCluster.Token);
        for (var i = 0; i < mapped; i++)
        {
            (await http.PutAsJsonAsync($"/v1/mappings/id{i}", new { destination = $"backend-{i % 10}" })).EnsureSuccessStatusCode();
        }

        var db = cluster.Redis.GetDatabase();
        var routeKeys = Enumerable.Range(0, mapped).Select(i => (RedisKey)$"coordinator:route:id{i}").ToArray();
        var missBase = Random.Shared.NextInt64(1_000_000_000);
        await using var raw = new RawHttp(cluster.GatewayHttp!);
        var hits = Enumerable.Range(0, mapped).Select(i => RawHttp.Request("GET", $"/v1/mappings/id{i}", BenchCluster.Token)).ToArray();
        BenchPath[] paths =
        [
            new("redis-get (baseline)", async i => await db.StringGetAsync(routeKeys[i % mapped])),
            new("gateway-http (hits)", i => raw.SendExpectingSuccessAsync(hits[i % mapped]), RatioTo: References.HealthzPath),
            new("gateway-http (misses)", i => raw.SendExpectingSuccessAsync(RawHttp.Request("GET", $"/v1/mappings/new{missBase + i}", BenchCluster.Token)), RatioTo: References.HealthzPath),
            new(References.HealthzPath, _ => raw.SendExpectingSuccessAsync(References.HealthzRequest), RatioTo: ""),
        ];
        var measured = await LoadRunner.CompareAsync("mapping-lookup", paths, 64, mapped, duration, rounds);
        Report.Print(measured);
        return measured;
    }
}
