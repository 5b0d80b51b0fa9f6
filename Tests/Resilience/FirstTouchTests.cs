using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
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
    private const int Users = 1000;
    private const int InFlight = 16;

    [Fact(Timeout = 300_000)]
    public async Task FirstTouchAcquires_OnAHealthyCluster_AreAllAnsweredByTheGrains()
    {
        // Arrange: Redis, two silos and a gateway as processes, as the quick start runs them.
        await using var cluster = await ProcessCluster.StartAsync("touch");
        var (http, gateway) = (cluster.Http, cluster.Gateway);

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
}
