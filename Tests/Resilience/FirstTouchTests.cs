using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Resilience;

/// <summary>
/// The fallback is for an unreachable cluster, not a slow first call: on a healthy two-silo cluster (real Silo and
/// Gateway processes, default resilience settings), right after the gateway reports ready, 1,000 acquires for new
/// users (each a cold grain: activation, storage read, lease-index write, state write) are all answered by the
/// grains (issue 13).
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class FirstTouchTests(ITestOutputHelper output)
{
    private const string Token = "first-touch-admin-token-0123456789";
    private const int Users = 1000;
    private const int InFlight = 16;

    [Fact(Timeout = 300_000)]
    public async Task FirstTouchAcquires_OnAHealthyCluster_AreAllAnsweredByTheGrains()
    {
        // Arrange: Redis, two silos and a gateway as processes, as the quick start runs them.
        await using var redis = await RedisServer.StartAsync();
        var common = new Dictionary<string, string>
        {
            ["Redis__ConnectionString"] = redis.ConnectionString,
            ["Orleans__ServiceId"] = "touch" + Guid.NewGuid().ToString("N")[..8],
            ["Auth__AdminTokens__0"] = Token,
            ["Logging__LogLevel__Default"] = "Warning",
            ["Security__SessionKeys__0__Id"] = "k1",
            ["Security__SessionKeys__0__Key"] = TestSecrets.NewSessionKey,
            ["Security__ApiKeyHmacSecret"] = TestSecrets.HmacSecret,
        };
        await using var first = CoordinatorProcess.Start("Silo", RedisServer.FreePort(), Silo(common));
        await using var second = CoordinatorProcess.Start("Silo", RedisServer.FreePort(), Silo(common));
        await Task.WhenAll(first.WaitUntilReadyAsync(TimeSpan.FromSeconds(90)), second.WaitUntilReadyAsync(TimeSpan.FromSeconds(90)));
        await using var gateway = CoordinatorProcess.Start("Gateway", RedisServer.FreePort(), new Dictionary<string, string>(common) { ["Gateway__GrpcPort"] = "-1" });
        await gateway.WaitUntilReadyAsync(TimeSpan.FromSeconds(90));
        using var http = new HttpClient { BaseAddress = gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        // Act: 1,000 first-touch acquires, 16 in flight.
        var run = Guid.NewGuid().ToString("N")[..6];
        var answers = new ConcurrentBag<(HttpStatusCode Status, string? Mode, double Ms)>();
        var timeline = new ConcurrentBag<(double StartMs, double Ms, string? Mode)>();
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, Users), new ParallelOptions { MaxDegreeOfParallelism = InFlight, CancellationToken = TestContext.Current.CancellationToken }, async (i, ct) =>
        {
            var startMs = clock.Elapsed.TotalMilliseconds;
            var call = Stopwatch.StartNew();
            using var response = await http.PostJsonAsync($"/v1/users/touch-{run}-{i}/connections", new { instanceId = $"proxy-{i % 8}" });
            answers.Add((response.StatusCode, response.Headers.TryGetValues("X-Coordinator-Mode", out var mode) ? mode.Single() : null, call.Elapsed.TotalMilliseconds));
            timeline.Add((startMs, call.Elapsed.TotalMilliseconds, response.Headers.TryGetValues("X-Coordinator-Mode", out var m2) ? m2.Single() : null));
        });

        // Assert: every acquire granted, none by the fallback.
        var latencies = answers.Select(a => a.Ms).Order().ToList();
        var fallback = answers.Count(a => a.Mode is not null);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Users} first-touch acquires, {InFlight} in flight, in {clock.Elapsed.TotalSeconds:0.0} s: {fallback} answered by the fallback; " +
            $"latency p50 {latencies[latencies.Count / 2]:0.0} ms, p99 {latencies[(int)(latencies.Count * 0.99)]:0.0} ms, max {latencies[^1]:0.0} ms."));
        output.WriteLine("first 40 requests and every fallback answer, [start ms + duration ms]: " + string.Join(" ", timeline.OrderBy(t => t.StartMs).Where((t, i) => i < 40 || t.Mode is not null).Select(t => string.Create(CultureInfo.InvariantCulture, $"[{t.StartMs:0}+{t.Ms:0}{(t.Mode is null ? "" : " fb")}]"))));
        Assert.True(answers.All(a => a.Status == HttpStatusCode.Created),
            $"not every acquire was granted: {string.Join(", ", answers.GroupBy(a => (int)a.Status).Select(g => $"{g.Key} x{g.Count()}"))}. Gateway output:{Environment.NewLine}{gateway.Output}");
        Assert.True(fallback == 0, $"{fallback} of {Users} first-touch acquires were answered by the fallback on a healthy cluster. Gateway output:{Environment.NewLine}{gateway.Output}");
    }

    private static Dictionary<string, string> Silo(Dictionary<string, string> common) => new(common)
    {
        ["Orleans__SiloPort"] = RedisServer.FreePort().ToString(CultureInfo.InvariantCulture),
        ["Orleans__GatewayPort"] = RedisServer.FreePort().ToString(CultureInfo.InvariantCulture),
    };
}
