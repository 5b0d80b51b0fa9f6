using System.Net;
using System.Text;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Caching;

/// <summary>The response cache over real HTTP (embedded gateway, auth on).</summary>
[Collection(EmbeddedGatewayCollection.Name)]
public sealed class CachesApiTests(EmbeddedGatewayFixture fixture)
{
    private HttpClient Admin => fixture.Admin;

    private HttpClient Client => fixture.Client;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<string> NamespaceAsync(object? settings = null)
    {
        var path = $"/v1/tenants/{TestKeys.User("tenant")}/caches/gpt-4o";
        var put = await Admin.PutJsonAsync(path, settings ?? new { dimension = 3 });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        return path;
    }

    [Fact]
    public async Task Namespace_PutThenGet_SettingsDefaultsAndStats()
    {
        var path = await NamespaceAsync(new { maxEntries = 500, dimension = 1536 });
        await Client.PutJsonAsync($"{path}/entries/k1", new { value = "v" });
        await Client.GetAsync($"{path}/entries/k1", Ct);
        await Client.GetAsync($"{path}/entries/nothing", Ct);

        var got = await (await Client.GetAsync(path, Ct)).JsonAsync();

        Assert.Equal("gpt-4o", got.GetProperty("namespace").GetString());
        Assert.Equal(500, got.GetProperty("maxEntries").GetInt32());
        Assert.Equal(64L * 1024 * 1024, got.GetProperty("maxBytes").GetInt64());
        Assert.Equal(3_600_000, got.GetProperty("defaultTtlMs").GetInt64());
        Assert.Equal(1536, got.GetProperty("dimension").GetInt32());
        Assert.Equal(1024 * 1024, got.GetProperty("maxValueBytes").GetInt32());
        Assert.Equal(30_000, got.GetProperty("fillTimeoutMs").GetInt64());
        Assert.Equal((1, 1, 1, 0, 0), (got.GetProperty("entries").GetInt32(), got.GetProperty("hits").GetInt32(),
            got.GetProperty("misses").GetInt32(), got.GetProperty("evictions").GetInt32(), got.GetProperty("fills").GetInt32()));
        Assert.True(got.GetProperty("bytes").GetInt64() > 1);
        await (await Client.PutJsonAsync(path, new { })).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task Entry_PutGetDelete_RoundTrips()
    {
        var path = await NamespaceAsync();
        const string text = "Grüße, \"world\" </script> \u2603 \U0001F600";

        var put = await Client.PutJsonAsync($"{path}/entries/sha256:abc", new { value = text, ttlMs = 60_000, tags = new[] { "model:gpt-4o" } });
        var got = await Client.GetAsync($"{path}/entries/sha256:abc", Ct);
        var body = await got.JsonAsync();
        var delete = await Client.DeleteAsync($"{path}/entries/sha256:abc", Ct);
        var gone = await Client.GetAsync($"{path}/entries/sha256:abc", Ct);

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.True((await put.JsonAsync()).GetProperty("stored").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, got.StatusCode);
        Assert.Equal("application/json", got.Content.Headers.ContentType?.MediaType);
        Assert.Equal(text, body.GetProperty("value").GetString());
        Assert.Equal(body.GetProperty("createdAtMs").GetInt64() + 60_000, body.GetProperty("expiresAtMs").GetInt64());
        Assert.Equal(1, body.GetProperty("hits").GetInt64());
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        var miss = await gone.AssertProblemAsync(HttpStatusCode.NotFound, "cache-miss");
        Assert.False(miss.GetProperty("fillPending").GetBoolean());
        Assert.False(miss.TryGetProperty("fillToken", out _));
        await (await Client.DeleteAsync($"{path}/entries/sha256:abc", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "cache-miss");
    }

    [Fact]
    public async Task Lru_ByEntries_TheLeastRecentlyUsedGoes()
    {
        var path = await NamespaceAsync(new { maxEntries = 2 });
        await Client.PutJsonAsync($"{path}/entries/a", new { value = "1" });
        await Client.PutJsonAsync($"{path}/entries/b", new { value = "2" });
        await Client.GetAsync($"{path}/entries/a", Ct);

        var third = await (await Client.PutJsonAsync($"{path}/entries/c", new { value = "3" })).JsonAsync();

        Assert.Equal(1, third.GetProperty("evicted").GetInt32());
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"{path}/entries/a", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"{path}/entries/b", Ct)).StatusCode);
        Assert.Equal(1, (await (await Client.GetAsync(path, Ct)).JsonAsync()).GetProperty("evictions").GetInt32());
    }

    [Fact]
    public async Task Lru_ByBytes_KeepsTheNamespaceUnderMaxBytes()
    {
        var path = await NamespaceAsync(new { maxBytes = 64 * 1024 });
        var value = new string('x', 20_000);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await Client.PutJsonAsync($"{path}/entries/k{i}", new { value })).StatusCode);
        }

        var stats = await (await Client.GetAsync(path, Ct)).JsonAsync();

        Assert.Equal(3, stats.GetProperty("entries").GetInt32()); // 3 x ~20 KB fit in 64 KiB
        Assert.InRange(stats.GetProperty("bytes").GetInt64(), 60_000, 64 * 1024);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"{path}/entries/k1", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"{path}/entries/k4", Ct)).StatusCode);
    }

    [Fact]
    public async Task Invalidate_DropsEveryEntryWithOneOfTheTags()
    {
        var path = await NamespaceAsync();
        await Client.PutJsonAsync($"{path}/entries/a", new { value = "1", tags = new[] { "doc:42", "user:1" } });
        await Client.PutJsonAsync($"{path}/entries/b", new { value = "2", tags = new[] { "doc:7" } });
        await Client.PutJsonAsync($"{path}/entries/c", new { value = "3", tags = new[] { "user:1" } });

        var invalidated = await (await Client.PostJsonAsync($"{path}/invalidate", new { tags = new[] { "doc:42", "user:1" } })).JsonAsync();

        Assert.Equal(2, invalidated.GetProperty("invalidated").GetInt32());
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"{path}/entries/b", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"{path}/entries/a", Ct)).StatusCode);
        await (await Client.PostJsonAsync($"{path}/invalidate", new { tags = Array.Empty<string>() })).AssertBadFieldAsync("tags");
    }

    [Fact]
    public async Task FiftyConcurrentMisses_OverHttp_OneFillTokenAndFortyNineValues()
    {
        var path = await NamespaceAsync();

        var misses = Enumerable.Range(0, 50).Select(_ => Client.GetAsync($"{path}/entries/hot?fill=true&waitMs=30000", Ct)).ToList();
        await Wait.UntilAsync(async () => misses.Count(m => m.IsCompleted) + (await (await Client.GetAsync(path, Ct)).JsonAsync()).GetProperty("waiters").GetInt32() == 50,
            TimeSpan.FromSeconds(20), "all 50 callers answered or waiting for the fill");
        var filler = await misses.Single(m => m.IsCompleted);
        var token = (await filler.AssertProblemAsync(HttpStatusCode.NotFound, "cache-miss")).GetProperty("fillToken").GetString();
        var write = await (await Client.PutJsonAsync($"{path}/entries/hot", new { value = "computed once", fillToken = token })).JsonAsync();
        var answers = await Task.WhenAll(misses);

        Assert.True(write.GetProperty("fillCompleted").GetBoolean());
        Assert.Equal(49, answers.Count(a => a.StatusCode == HttpStatusCode.OK));
        foreach (var answer in answers.Where(a => a.StatusCode == HttpStatusCode.OK))
        {
            Assert.Equal("computed once", (await answer.JsonAsync()).GetProperty("value").GetString());
        }

        Assert.Equal(1, (await (await Client.GetAsync(path, Ct)).JsonAsync()).GetProperty("fills").GetInt32());
    }

    [Fact]
    public async Task FillerGivesUp_OverHttp_WaitersGetAMiss()
    {
        var path = await NamespaceAsync();
        var first = await (await Client.GetAsync($"{path}/entries/k?fill=true", Ct)).JsonAsync();
        var token = first.GetProperty("fillToken").GetString();
        var waiter = Client.GetAsync($"{path}/entries/k?fill=true&waitMs=30000", Ct);
        await Wait.UntilAsync(async () => (await (await Client.GetAsync(path, Ct)).JsonAsync()).GetProperty("waiters").GetInt32() == 1,
            TimeSpan.FromSeconds(10), "the second caller waiting for the fill");

        var gaveUp = await Client.DeleteAsync($"{path}/entries/k?fillToken={token}", Ct);
        var waited = await (await waiter).AssertProblemAsync(HttpStatusCode.NotFound, "cache-miss");

        Assert.Equal(HttpStatusCode.NoContent, gaveUp.StatusCode);
        Assert.False(waited.TryGetProperty("fillToken", out _));
    }

    [Fact]
    public async Task Similar_BestFirst_AtOrAboveMinScore_WithValues()
    {
        var path = await NamespaceAsync();
        await Client.PutJsonAsync($"{path}/entries/paris", new { value = "Paris is the capital of France.", embedding = new[] { 0.9f, 0.1f, 0 } });
        await Client.PutJsonAsync($"{path}/entries/lyon", new { value = "Lyon is in France.", embedding = new[] { 0.7f, 0.7f, 0 } });
        await Client.PutJsonAsync($"{path}/entries/tokyo", new { value = "Tokyo is in Japan.", embedding = new[] { 0, 0.1f, 0.9f } });
        await Client.PutJsonAsync($"{path}/entries/plain", new { value = "no embedding" });

        var body = await (await Client.PostJsonAsync($"{path}/similar", new { embedding = new[] { 1f, 0, 0 }, minScore = 0.6, topK = 5 })).JsonAsync();
        var none = await (await Client.PostJsonAsync($"{path}/similar", new { embedding = new[] { 0f, -1, 0 }, minScore = 0.5 })).JsonAsync();
        var top1 = await (await Client.PostJsonAsync($"{path}/similar", new { embedding = new[] { 1f, 0, 0 }, minScore = -1, topK = 1 })).JsonAsync();

        var matches = body.GetProperty("matches").EnumerateArray().ToList();
        Assert.Equal(["paris", "lyon"], matches.Select(m => m.GetProperty("key").GetString()));
        Assert.Equal(0.9939, matches[0].GetProperty("score").GetDouble(), 0.001);
        Assert.Equal(0.7071, matches[1].GetProperty("score").GetDouble(), 0.001);
        Assert.Equal("Paris is the capital of France.", matches[0].GetProperty("value").GetString());
        Assert.Equal(0, none.GetProperty("matches").GetArrayLength());
        Assert.Equal(["paris"], top1.GetProperty("matches").EnumerateArray().Select(m => m.GetProperty("key").GetString()));
    }

    [Fact]
    public async Task Base64Embeddings_AsOpenAiAnswersThem_MatchTheArrayForm()
    {
        // encoding_format "base64": little-endian float32 values. 0.9, 0.1, 0 written as bytes, read as an array.
        var path = await NamespaceAsync();
        static string Base64(params float[] values) => Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        await Client.PutJsonAsync($"{path}/entries/paris", new { value = "Paris", embedding = Base64(0.9f, 0.1f, 0) });
        await Client.PutJsonAsync($"{path}/entries/tokyo", new { value = "Tokyo", embedding = new[] { 0, 0.1f, 0.9f } });

        var byBase64 = await (await Client.PostJsonAsync($"{path}/similar", new { embedding = Base64(0.9f, 0.1f, 0), minScore = 0.5 })).JsonAsync();
        var byArray = await (await Client.PostJsonAsync($"{path}/similar", new { embedding = new[] { 0, 0.1f, 0.9f }, minScore = 0.5 })).JsonAsync();
        var tokyoByBase64 = await (await Client.PostJsonAsync($"{path}/similar", new { embedding = Base64(0, 0.1f, 0.9f), minScore = 0.5 })).JsonAsync();

        var match = Assert.Single(byBase64.GetProperty("matches").EnumerateArray());
        Assert.Equal("paris", match.GetProperty("key").GetString());
        Assert.Equal(1.0, match.GetProperty("score").GetDouble(), 0.001);
        Assert.Equal("tokyo", Assert.Single(byArray.GetProperty("matches").EnumerateArray()).GetProperty("key").GetString());
        Assert.Equal("tokyo", Assert.Single(tokyoByBase64.GetProperty("matches").EnumerateArray()).GetProperty("key").GetString());
        await (await Client.PostJsonAsync($"{path}/similar", new { embedding = "not base64!", minScore = 0.5 })).AssertBadFieldAsync("embedding");
        await (await Client.PostJsonAsync($"{path}/similar", new { embedding = Convert.ToBase64String(new byte[10]), minScore = 0.5 })).AssertBadFieldAsync("embedding");
        await (await Client.PostJsonAsync($"{path}/similar", new { embedding = Base64(1, 0), minScore = 0.5 })).AssertBadFieldAsync("embedding");
        await (await Client.PostJsonAsync($"{path}/similar", new { embedding = Base64(1, float.NaN, 0), minScore = 0.5 })).AssertBadFieldAsync("embedding");
        await (await Client.PutJsonAsync($"{path}/entries/k", new { value = "v", embedding = true })).AssertBadFieldAsync("embedding");
    }

    [Fact]
    public async Task BadInput_Answers400NamingTheField_Or404ForAnUnknownNamespace()
    {
        var path = await NamespaceAsync();
        var unknown = $"/v1/tenants/{TestKeys.User("tenant")}/caches/none";

        await (await Client.PutJsonAsync($"{path}/entries/k", new { value = "v", embedding = new[] { 1f, 2 } })).AssertBadFieldAsync("embedding");
        await (await Client.PostJsonAsync($"{path}/similar", new { embedding = new[] { 1f, 2 }, minScore = 0.5 })).AssertBadFieldAsync("embedding");
        await (await Client.PostRawAsync($"{path}/similar", """{"embedding":[1,"NaN",0],"minScore":0.5}""")).AssertBadFieldAsync("embedding");
        await (await Client.PostJsonAsync($"{path}/similar", new { embedding = new[] { 0f, 0, 0 }, minScore = 0.5 })).AssertBadFieldAsync("embedding");
        await (await Client.PostJsonAsync($"{path}/similar", new { embedding = new[] { 1f, 0, 0 } })).AssertBadFieldAsync("minScore");
        await (await Client.PostJsonAsync($"{path}/similar", new { embedding = new[] { 1f, 0, 0 }, minScore = 2 })).AssertBadFieldAsync("minScore");
        await (await Client.PostJsonAsync($"{path}/similar", new { embedding = new[] { 1f, 0, 0 }, minScore = 0, topK = 0 })).AssertBadFieldAsync("topK");
        await (await Client.PutJsonAsync($"{path}/entries/k", new { value = new string('x', (1024 * 1024) + 1) })).AssertBadFieldAsync("value");
        await (await Client.PutJsonAsync($"{path}/entries/k", new { ttlMs = 5000 })).AssertBadFieldAsync("value");
        await (await Client.PutJsonAsync($"{path}/entries/k", new { value = "v", ttlMs = 5 })).AssertBadFieldAsync("ttlMs");
        await (await Client.PutJsonAsync($"{path}/entries/k", new { value = "v", tags = Enumerable.Range(0, 17).Select(i => $"t{i}").ToArray() })).AssertBadFieldAsync("tags");
        await (await Client.PutJsonAsync($"{path}/entries/k", new { value = "v", fillToken = "not-a-token" })).AssertBadFieldAsync("fillToken");
        await (await Client.GetAsync($"{path}/entries/k?waitMs=-1", Ct)).AssertBadFieldAsync("waitMs");
        await (await Client.GetAsync($"{path}/entries/k?waitMs=60001", Ct)).AssertBadFieldAsync("waitMs");
        await (await Client.GetAsync($"{path}/entries/k?fill=maybe", Ct)).AssertBadFieldAsync("fill");
        await (await Client.GetAsync($"{path}/entries/{new string('k', 257)}", Ct)).AssertBadFieldAsync("key");
        await (await Admin.PutJsonAsync(path, new { dimension = 4097 })).AssertBadFieldAsync("dimension");
        await (await Admin.PutJsonAsync(path, new { maxEntries = 0 })).AssertBadFieldAsync("maxEntries");
        await (await Admin.PutJsonAsync(path, new { maxBytes = 1000 })).AssertBadFieldAsync("maxBytes");
        await (await Admin.PutJsonAsync($"/v1/tenants/t/caches/{new string('n', 65)}", new { })).AssertBadFieldAsync("namespace");
        await (await Client.GetAsync($"{unknown}/entries/k", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "cache-namespace-not-found");
        await (await Client.PutJsonAsync($"{unknown}/entries/k", new { value = "v" })).AssertProblemAsync(HttpStatusCode.NotFound, "cache-namespace-not-found");
        await (await Client.PostJsonAsync($"{unknown}/similar", new { embedding = new[] { 1f }, minScore = 0 })).AssertProblemAsync(HttpStatusCode.NotFound, "cache-namespace-not-found");
        await (await Client.GetAsync(unknown, Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "cache-namespace-not-found");
    }

    [Fact]
    public async Task DeleteNamespace_DropsEverything()
    {
        var path = await NamespaceAsync();
        await Client.PutJsonAsync($"{path}/entries/k", new { value = "v" });

        var delete = await Admin.DeleteAsync(path, Ct);

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        await (await Client.GetAsync($"{path}/entries/k", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "cache-namespace-not-found");
        await (await Admin.DeleteAsync(path, Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "cache-namespace-not-found");
    }

    [Fact]
    public async Task LoneSurrogateInValue_Is400()
    {
        var path = await NamespaceAsync();
        var response = await Client.PutAsync($"{path}/entries/k", new StringContent("""{"value":"\ud800"}""", Encoding.UTF8, "application/json"), Ct);

        await response.AssertBadFieldAsync("value");
    }
}
