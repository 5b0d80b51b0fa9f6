using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Routing;
using Orleans.Coordinator.Resilience;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Routing;

/// <summary>The gateway's copies of route lookups: bounded in time, never kept across a concurrent change.</summary>
public sealed class RouteCacheTests
{
    private static RouteCache Cache(FakeTimeProvider time, int seconds = 5, int entries = 100)
        => new(Options.Create(new MappingOptions { GatewayCacheTtl = TimeSpan.FromSeconds(seconds), GatewayCacheEntries = entries }), time);

    private static RouteResolution Route(string destination, long validForMs) => new("id", destination, RouteSource.Mapping, validForMs);

    [Fact]
    public void Copy_LivesNoLongerThanTheGrainsCopyHadLeft_NorTheGatewayTtl()
    {
        var time = new FakeTimeProvider();
        var cache = Cache(time);
        cache.Store("short", Route("a", 1_000), cache.Generation);
        cache.Store("long", Route("b", 60_000), cache.Generation);

        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.True(cache.TryGet("short", out _));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(cache.TryGet("short", out _));
        Assert.True(cache.TryGet("long", out var kept));
        Assert.Equal("b", kept.Destination);
        time.Advance(TimeSpan.FromMilliseconds(4_000));
        Assert.False(cache.TryGet("long", out _));
    }

    [Fact]
    public void LookupUnderWayDuringAnEviction_IsNotKept()
    {
        var cache = Cache(new FakeTimeProvider());
        var before = cache.Generation;

        cache.Evict("other");
        cache.Store("id", Route("old", 30_000), before);

        Assert.False(cache.TryGet("id", out _));
    }

    [Fact]
    public void Suspended_KeepsAndServesNothing_UntilResumed()
    {
        var cache = Cache(new FakeTimeProvider());
        cache.Store("id", Route("a", 30_000), cache.Generation);

        cache.Suspend();
        cache.Store("id2", Route("b", 30_000), cache.Generation);

        Assert.False(cache.TryGet("id", out _));
        Assert.False(cache.TryGet("id2", out _));
        cache.Resume();
        cache.Store("id2", Route("b", 30_000), cache.Generation);
        Assert.True(cache.TryGet("id2", out _));
    }

    [Fact]
    public void LookupBegunWhileSuspended_IsNotKeptAfterResume()
    {
        // An announcement sent while copies were off was missed: a lookup that began then may carry the old route.
        var cache = Cache(new FakeTimeProvider());
        cache.Suspend();
        var begun = cache.Generation;

        cache.Resume();
        cache.Store("id", Route("maybe-old", 30_000), begun);

        Assert.False(cache.TryGet("id", out _));
    }

    [Fact]
    public void Full_KeepsNoMore_UntilExpiredCopiesAreSwept()
    {
        var time = new FakeTimeProvider();
        var cache = Cache(time, entries: 2);
        cache.Store("a", Route("a", 1_000), cache.Generation);
        cache.Store("b", Route("b", 1_000), cache.Generation);
        time.Advance(TimeSpan.FromMilliseconds(500));
        cache.Store("c", Route("c", 1_000), cache.Generation);
        Assert.False(cache.TryGet("c", out _));

        time.Advance(TimeSpan.FromMilliseconds(1_000));
        cache.Store("c", Route("c", 1_000), cache.Generation);
        Assert.True(cache.TryGet("c", out _));
        Assert.Equal(1, cache.Count);
    }
}

/// <summary>
/// Two cluster-mode gateways on one cluster: a route read (and kept) by one gateway is replaced, deleted and
/// invalidated through the other; the first answers the new route within a bound, pushed by the mapping grain.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class GatewayRouteCacheTests(RedisClusterFixture fixture, ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task RouteChangedThroughAnotherGateway_IsAnsweredEverywhere_WithinOneSecond()
    {
        // Arrange: a long gateway copy (30 s), so only the push can explain a fresh answer.
        var settings = fixture.GatewaySettings();
        settings["Mappings:GatewayCacheTtl"] = "00:00:30";
        await using var a = await GatewayHost.StartAsync(settings);
        await using var b = await GatewayHost.StartAsync(settings);
        using var readA = a.CreateClient(GatewayHost.ClientToken);
        using var adminB = b.CreateClient(GatewayHost.AdminToken);
        var identifier = TestKeys.Identifier("push");
        Assert.Equal(HttpStatusCode.OK, (await adminB.PutAsJsonAsync($"/v1/mappings/{identifier}", new { destination = "first" }, Ct)).StatusCode);
        Assert.Equal("first", await DestinationAsync(readA, identifier));
        Assert.Equal("first", await DestinationAsync(readA, identifier));

        // Act + Assert: each change through B is answered by A within 1 s.
        var took = new List<long>();
        foreach (var (change, expected) in new (Func<Task<HttpResponseMessage>>, string)[]
        {
            (() => adminB.PutAsJsonAsync($"/v1/mappings/{identifier}", new { destination = "second" }, Ct), "second"),
            (() => adminB.DeleteAsync($"/v1/mappings/{identifier}", Ct), "(default)"),
            (() => adminB.PutAsJsonAsync($"/v1/mappings/{identifier}", new { destination = "third" }, Ct), "third"),
        })
        {
            Assert.True((await change()).IsSuccessStatusCode, $"the change to {expected} through gateway B");
            var watch = Stopwatch.StartNew();
            await Wait.UntilAsync(async () => await DestinationAsync(readA, identifier) == expected, TimeSpan.FromSeconds(1),
                $"gateway A to answer '{expected}' after the change through gateway B");
            took.Add(watch.ElapsedMilliseconds);
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gateway A answered each change made through B after {string.Join(", ", took)} ms"));
    }

    private static Task<string> DestinationAsync(HttpClient http, string identifier) => RouteAnswers.DestinationAsync(http, identifier, Ct);
}

/// <summary>
/// Redis restarted under two cluster gateways: announcements sent while a gateway's subscription was down are lost,
/// so its copies must stay off until its subscription works again; after that, a change through the other gateway
/// is answered within 1 s again.
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class RouteCacheAcrossRedisRestartTests(ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 180_000)]
    public async Task AfterRedisRestarts_ChangesThroughAnotherGateway_AreStillAnsweredWithinOneSecond()
    {
        // Arrange: a cluster of its own and two gateways keeping 30 s copies.
        await using var redis = await RedisServer.StartAsync();
        var prefix = TestKeys.Prefix("rc");
        var cluster = await RedisClusterFixture.StartClusterAsync(redis, prefix, silos: 1);
        try
        {
            var settings = RedisClusterFixture.StandaloneGatewaySettings(redis, prefix, cluster, new Dictionary<string, string?>
            {
                ["Mappings:GatewayCacheTtl"] = "00:00:30",
                ["Gateway:GrpcPort"] = "-1",
            });
            await using var a = await GatewayHost.StartAsync(settings);
            await using var b = await GatewayHost.StartAsync(settings);
            using var readA = a.CreateClient();
            using var writeB = b.CreateClient();
            var identifier = TestKeys.Identifier("restart");
            Assert.True((await writeB.PutAsJsonAsync($"/v1/mappings/{identifier}", new { destination = "before" }, Ct)).IsSuccessStatusCode);
            await Wait.UntilAsync(async () => await DestinationAsync(readA, identifier) == "before", TimeSpan.FromSeconds(5), "gateway A to answer 'before'");

            // Act: Redis restarts (its AOF keeps the route); then the route changes through B.
            await redis.RestartAsync();
            await Wait.UntilAsync(async () => (await writeB.PutAsJsonAsync($"/v1/mappings/{identifier}", new { destination = "after" }, Ct)).IsSuccessStatusCode,
                TimeSpan.FromSeconds(30), "gateway B to write the route again after Redis restarted");
            var watch = Stopwatch.StartNew();

            // Assert: A answers the new route within 1 s of the write, whatever its copy held before.
            await Wait.UntilAsync(async () => await DestinationAsync(readA, identifier) == "after", TimeSpan.FromSeconds(1),
                "gateway A to answer 'after' once the write through B after the restart was acknowledged");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gateway A answered the change {watch.ElapsedMilliseconds} ms after it was acknowledged"));

            // And its copies work again: a later change through B is pushed too.
            Assert.True((await writeB.PutAsJsonAsync($"/v1/mappings/{identifier}", new { destination = "later" }, Ct)).IsSuccessStatusCode);
            await Wait.UntilAsync(async () => await DestinationAsync(readA, identifier) == "later", TimeSpan.FromSeconds(1),
                "gateway A to answer 'later' after the next change through B");
        }
        finally
        {
            await cluster.StopAllSilosAsync(CancellationToken.None);
            await cluster.DisposeAsync();
        }
    }

    private static Task<string> DestinationAsync(HttpClient http, string identifier) => RouteAnswers.DestinationAsync(http, identifier, Ct);
}

/// <summary>What a gateway answers for an identifier: the destination, <c>(default)</c>, or <c>HTTP nnn</c>.</summary>
internal static class RouteAnswers
{
    public static async Task<string> DestinationAsync(HttpClient http, string identifier, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync($"/v1/mappings/{identifier}", cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            return $"HTTP {(int)response.StatusCode}";
        }

        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return json.RootElement.GetProperty("source").GetString() == "default" ? "(default)" : json.RootElement.GetProperty("destination").GetString()!;
    }
}
