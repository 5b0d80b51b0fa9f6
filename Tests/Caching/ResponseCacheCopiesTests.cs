using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Caching;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Resilience;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Caching;

/// <summary>The gateway's copies of response-cache hits: bounded in time and bytes, never kept across a concurrent change.</summary>
public sealed class ResponseCacheCopiesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    private static ResponseCacheCopies Copies(FakeTimeProvider time, int seconds = 5, long bytes = 1 << 20)
        => new(Options.Create(new CacheOptions { GatewayCopyTtl = TimeSpan.FromSeconds(seconds), GatewayCopyBytes = bytes }), time);

    private static ResponseCacheEntry Entry(long expiresAtMs, int size = 10) => new(new byte[size], 0, expiresAtMs, 1);

    private static long Now(FakeTimeProvider time) => time.GetUtcNow().ToUnixTimeMilliseconds();

    [Fact]
    public void Copy_LivesNoLongerThanItsEntry_NorTheTtl_AndCountsItsHits()
    {
        var time = new FakeTimeProvider(T0);
        var copies = Copies(time);
        copies.Store("ns", "short", Entry(Now(time) + 1_000), copies.Generation, Now(time));
        copies.Store("ns", "long", Entry(Now(time) + 60_000), copies.Generation, Now(time));

        Assert.True(copies.TryGet("ns", "short", Now(time), out _));
        time.Advance(TimeSpan.FromMilliseconds(1_000));
        Assert.False(copies.TryGet("ns", "short", Now(time), out _));
        Assert.True(copies.TryGet("ns", "long", Now(time), out _));
        time.Advance(TimeSpan.FromMilliseconds(4_000));
        Assert.False(copies.TryGet("ns", "long", Now(time), out _));
        var hits = copies.TakeHits();
        Assert.Equal(["short", "long"], hits["ns"].Keys.Order(StringComparer.Ordinal).Reverse());
        Assert.Equal([1, 1], hits["ns"].Counts);
        Assert.Empty(copies.TakeHits());
    }

    [Fact]
    public void LookupUnderWayDuringAnEviction_IsNotKept_AndNamespaceEvictionDropsAll()
    {
        var time = new FakeTimeProvider(T0);
        var copies = Copies(time);
        var before = copies.Generation;
        copies.Evict("ns", "other");
        copies.Store("ns", "k", Entry(Now(time) + 60_000), before, Now(time));
        Assert.False(copies.TryGet("ns", "k", Now(time), out _));

        copies.Store("ns", "a", Entry(Now(time) + 60_000), copies.Generation, Now(time));
        copies.Store("ns2", "a", Entry(Now(time) + 60_000), copies.Generation, Now(time));
        copies.Evict("ns", null);

        Assert.False(copies.TryGet("ns", "a", Now(time), out _));
        Assert.True(copies.TryGet("ns2", "a", Now(time), out _));
    }

    [Fact]
    public void BytesBound_AndLargeValues_AreNotCopied()
    {
        var time = new FakeTimeProvider(T0);
        var copies = Copies(time, bytes: 100);
        copies.Store("ns", "big", Entry(Now(time) + 60_000, ResponseCacheCopies.MaxValueBytes + 1), copies.Generation, Now(time));
        copies.Store("ns", "a", Entry(Now(time) + 60_000, 60), copies.Generation, Now(time));
        copies.Store("ns", "b", Entry(Now(time) + 60_000, 60), copies.Generation, Now(time));

        Assert.False(copies.TryGet("ns", "big", Now(time), out _));
        Assert.True(copies.TryGet("ns", "a", Now(time), out _));
        Assert.False(copies.TryGet("ns", "b", Now(time), out _));
        Assert.Equal(60, copies.Bytes);
    }

    [Fact]
    public void Suspended_KeepsAndServesNothing_UntilResumed()
    {
        var time = new FakeTimeProvider(T0);
        var copies = Copies(time);
        copies.Store("ns", "a", Entry(Now(time) + 60_000), copies.Generation, Now(time));

        copies.Suspend();
        var begun = copies.Generation;

        Assert.False(copies.TryGet("ns", "a", Now(time), out _));
        copies.Resume();
        copies.Store("ns", "a", Entry(Now(time) + 60_000), begun, Now(time));
        Assert.False(copies.TryGet("ns", "a", Now(time), out _)); // begun while suspended: an announcement may have been missed
        Assert.Equal(0, copies.Bytes);
    }

    [Fact]
    public void ChangeAnnouncements_RoundTrip_AndNeverLookLikeRoutes()
    {
        var one = GrainKeys.ResponseCacheChange("acme/gpt", "sha256:ab");
        var all = GrainKeys.ResponseCacheChange("acme/gpt", null);

        Assert.True(GrainKeys.TryParseResponseCacheChange(one, out var ns, out var key));
        Assert.Equal(("acme/gpt", "sha256:ab"), (ns, key));
        Assert.True(GrainKeys.TryParseResponseCacheChange(all, out ns, out key));
        Assert.Equal(("acme/gpt", (string?)null), (ns, key));
        Assert.False(GrainKeys.TryParseResponseCacheChange("alice@example.com", out _, out _));
    }
}

/// <summary>
/// Two cluster-mode gateways: an entry read (and copied) by one gateway is replaced, deleted and invalidated through the
/// other and by an internal service; the first answers the change within 1 s (pushed by the namespace grain), and its
/// copy-served hits reach the grain's statistics.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class GatewayResponseCacheCopiesTests(RedisClusterFixture fixture, ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task EntryChangedElsewhere_IsAnsweredByEveryGateway_WithinOneSecond()
    {
        var settings = fixture.GatewaySettings();
        settings["Cache:GatewayCopyTtl"] = "00:00:30"; // long copies: only the push can explain a fresh answer
        await using var a = await GatewayHost.StartAsync(settings);
        await using var b = await GatewayHost.StartAsync(settings);
        using var readA = a.CreateClient(GatewayHost.ClientToken);
        using var adminB = b.CreateClient(GatewayHost.AdminToken);
        var tenant = TestKeys.User("tenant");
        var path = $"/v1/tenants/{tenant}/caches/gpt";
        Assert.Equal(HttpStatusCode.OK, (await adminB.PutAsJsonAsync(path, new { }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await adminB.PutAsJsonAsync($"{path}/entries/k", new { value = "first", tags = new[] { "t" } }, Ct)).StatusCode);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("first", await ValueAsync(readA, $"{path}/entries/k"));
        }

        var internalService = fixture.Grains.GetGrain<IResponseCacheGrain>(GrainKeys.ResponseCacheNamespace(tenant, "gpt"));
        var took = new List<long>();
        foreach (var (change, expected) in new (Func<Task>, string?)[]
        {
            (async () => Assert.True((await adminB.PutAsJsonAsync($"{path}/entries/k", new { value = "second", tags = new[] { "t" } }, Ct)).IsSuccessStatusCode), "second"),
            (async () => await internalService.PutAsync("k", ResponseCachePut.Text("third", tags: ["t"])), "third"),
            (async () => Assert.True((await adminB.PostAsJsonAsync($"{path}/invalidate", new { tags = new[] { "t" } }, Ct)).IsSuccessStatusCode), null),
            (async () => Assert.True((await adminB.PutAsJsonAsync($"{path}/entries/k", new { value = "fourth" }, Ct)).IsSuccessStatusCode), "fourth"),
            (async () => Assert.True((await adminB.DeleteAsync($"{path}/entries/k", Ct)).IsSuccessStatusCode), null),
        })
        {
            await ValueAsync(readA, $"{path}/entries/k"); // A holds a copy of what is there now (when it is a hit)
            await change();
            var watch = Stopwatch.StartNew();
            await Wait.UntilAsync(async () => await ValueAsync(readA, $"{path}/entries/k") == (expected ?? "(miss)"), TimeSpan.FromSeconds(1),
                $"gateway A to answer '{expected ?? "(miss)"}' after the change elsewhere");
            took.Add(watch.ElapsedMilliseconds);
        }

        // Hits served from A's copies reach the grain (reported about once a second).
        Assert.Equal(HttpStatusCode.OK, (await adminB.PutAsJsonAsync($"{path}/entries/hot", new { value = "v" }, Ct)).StatusCode);
        var before = (await (await adminB.GetAsync(path, Ct)).JsonAsync()).GetProperty("hits").GetInt64();
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("v", await ValueAsync(readA, $"{path}/entries/hot"));
        }

        await Wait.UntilAsync(async () => (await (await adminB.GetAsync(path, Ct)).JsonAsync()).GetProperty("hits").GetInt64() >= before + 20,
            TimeSpan.FromSeconds(10), "the 20 hits served by gateway A (most from its copy) to be counted by the namespace grain");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gateway A answered each change made elsewhere after {string.Join(", ", took)} ms"));
    }

    /// <summary>The entry's value, or "(miss)".</summary>
    private static async Task<string> ValueAsync(HttpClient http, string path)
    {
        var response = await http.GetAsync(path, Ct);
        return response.StatusCode == HttpStatusCode.NotFound ? "(miss)" : (await response.JsonAsync()).GetProperty("value").GetString()!;
    }
}
