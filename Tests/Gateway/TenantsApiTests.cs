using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Gateway;

[Collection(EmbeddedGatewayCollection.Name)]
public sealed class TenantsApiTests(EmbeddedGatewayFixture fixture)
{
    private HttpClient Admin => fixture.Admin;

    private HttpClient Client => fixture.Client;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<string> TenantWithPolicyAsync(object policy, string name = "api")
    {
        var tenant = TestKeys.User("tenant");
        var put = await Admin.PutJsonAsync($"/v1/tenants/{tenant}/policies/{name}", policy);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        return tenant;
    }

    [Fact]
    public async Task Policy_PutGetListDelete_RoundTrips()
    {
        var tenant = await TenantWithPolicyAsync(new { algorithm = "tokenBucket", limit = 20, refillPerSecond = 2.5, shadow = true });

        var got = await (await Admin.GetAsync($"/v1/tenants/{tenant}/policies/api", Ct)).JsonAsync();
        var list = await (await Admin.GetAsync($"/v1/tenants/{tenant}/policies", Ct)).JsonAsync();
        var delete = await Admin.DeleteAsync($"/v1/tenants/{tenant}/policies/api", Ct);
        var gone = await Admin.GetAsync($"/v1/tenants/{tenant}/policies/api", Ct);

        Assert.Equal("tokenBucket", got.GetProperty("algorithm").GetString());
        Assert.Equal(20, got.GetProperty("limit").GetInt64());
        Assert.Equal(2.5, got.GetProperty("refillPerSecond").GetDouble());
        Assert.True(got.GetProperty("shadow").GetBoolean());
        Assert.Equal(1, list.GetArrayLength());
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        await gone.AssertProblemAsync(HttpStatusCode.NotFound, "policy-not-found");
        await (await Admin.DeleteAsync($"/v1/tenants/{tenant}/policies/api", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "policy-not-found");
    }

    [Fact]
    public async Task Check_FixedWindow_AllowsTheLimitThen429WithHeaders()
    {
        var tenant = await TenantWithPolicyAsync(new { algorithm = "fixedWindow", limit = 3, windowMs = 60_000 });

        var answers = new List<HttpResponseMessage>();
        for (var i = 0; i < 4; i++)
        {
            answers.Add(await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "10.0.0.1" }));
        }

        Assert.All(answers.Take(3), a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
        var last = await answers[2].JsonAsync();
        Assert.Equal((true, 3L, 0L), (last.GetProperty("allowed").GetBoolean(), last.GetProperty("limit").GetInt64(), last.GetProperty("remaining").GetInt64()));
        Assert.InRange(last.GetProperty("resetAfterMs").GetInt64(), 1, 60_000);
        Assert.Equal("\"api\";q=3;w=60", answers[0].Headers.GetValues("RateLimit-Policy").Single());
        Assert.StartsWith("\"api\";r=2;t=", answers[0].Headers.GetValues("RateLimit").Single(), StringComparison.Ordinal);
        var problem = await answers[3].AssertProblemAsync(HttpStatusCode.TooManyRequests, "rate-limited");
        Assert.Equal(0, problem.GetProperty("remaining").GetInt64());
        Assert.NotNull(answers[3].Headers.RetryAfter);
        Assert.True(answers[3].Headers.Contains("RateLimit"));
    }

    [Fact]
    public async Task Check_CostZeroPeeks_CostAboveLimitDenied()
    {
        var tenant = await TenantWithPolicyAsync(new { algorithm = "slidingWindow", limit = 5, windowMs = 60_000 });

        var peek1 = await (await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "k", cost = 0 })).JsonAsync();
        var spend = await (await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "k", cost = 4 })).JsonAsync();
        var peek2 = await (await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "k", cost = 0 })).JsonAsync();
        var tooBig = await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "other", cost = 6 });

        Assert.Equal(5, peek1.GetProperty("remaining").GetInt64());
        Assert.Equal(1, spend.GetProperty("remaining").GetInt64());
        Assert.Equal(1, peek2.GetProperty("remaining").GetInt64());
        await tooBig.AssertProblemAsync(HttpStatusCode.TooManyRequests, "rate-limited");
    }

    [Fact]
    public async Task Check_ShadowPolicy_NeverDeniesButReportsWouldDeny()
    {
        var tenant = await TenantWithPolicyAsync(new { algorithm = "fixedWindow", limit = 1, windowMs = 60_000, shadow = true });

        var first = await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "k" });
        var second = await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "k" });

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.False((await first.JsonAsync()).GetProperty("wouldDeny").GetBoolean());
        var body = await second.JsonAsync();
        Assert.True(body.GetProperty("allowed").GetBoolean());
        Assert.True(body.GetProperty("wouldDeny").GetBoolean());
    }

    [Fact]
    public async Task CheckBatch_AnyDenied_NothingCounted_AndEachResultListed()
    {
        var tenant = await TenantWithPolicyAsync(new { algorithm = "fixedWindow", limit = 2, windowMs = 60_000 });
        await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "full", cost = 2 });

        var refused = await Client.PostJsonAsync("/v1/ratelimit/check-batch", new
        {
            checks = new[] { new { tenant, policy = "api", key = "free" }, new { tenant, policy = "api", key = "full" } },
        });
        var freeAfter = await (await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "free", cost = 0 })).JsonAsync();
        var passed = await Client.PostJsonAsync("/v1/ratelimit/check-batch", new
        {
            checks = new[] { new { tenant, policy = "api", key = "free" }, new { tenant, policy = "api", key = "free" } },
        });
        var overSame = await Client.PostJsonAsync("/v1/ratelimit/check-batch", new
        {
            checks = new[] { new { tenant, policy = "api", key = "again" }, new { tenant, policy = "api", key = "again" }, new { tenant, policy = "api", key = "again" } },
        });

        var problem = await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests, "rate-limited");
        var results = problem.GetProperty("results");
        Assert.Equal(2, results.GetArrayLength());
        Assert.True(results[0].GetProperty("allowed").GetBoolean());
        Assert.False(results[1].GetProperty("allowed").GetBoolean());
        Assert.Equal(2, freeAfter.GetProperty("remaining").GetInt64());
        Assert.Equal(HttpStatusCode.OK, passed.StatusCode);
        Assert.Equal(0, (await passed.JsonAsync()).GetProperty("results")[1].GetProperty("remaining").GetInt64());
        await overSame.AssertProblemAsync(HttpStatusCode.TooManyRequests, "rate-limited");
    }

    [Fact]
    public async Task Check_UnknownTenantOrPolicy_Returns404()
    {
        var tenant = await TenantWithPolicyAsync(new { algorithm = "fixedWindow", limit = 2, windowMs = 60_000 });

        await (await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant = TestKeys.User("nobody"), policy = "api", key = "k" }))
            .AssertProblemAsync(HttpStatusCode.NotFound, "policy-not-found");
        await (await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "missing", key = "k" }))
            .AssertProblemAsync(HttpStatusCode.NotFound, "policy-not-found");
    }

    [Theory]
    [InlineData("""{"algorithm":"leakyBucket","limit":5,"windowMs":1000}""", "algorithm")]
    [InlineData("""{"limit":5,"windowMs":1000}""", "algorithm")]
    [InlineData("""{"algorithm":"fixedWindow","windowMs":1000}""", "limit")]
    [InlineData("""{"algorithm":"fixedWindow","limit":0,"windowMs":1000}""", "limit")]
    [InlineData("""{"algorithm":"fixedWindow","limit":5}""", "windowMs")]
    [InlineData("""{"algorithm":"tokenBucket","limit":5}""", "refillPerSecond")]
    [InlineData("""{"algorithm":"tokenBucket","limit":5,"refillPerSecond":-1}""", "refillPerSecond")]
    [InlineData("""{"algorithm":"fixedWindow","limit":"five","windowMs":1000}""", "limit")]
    // Issue 13: a bucket that would take longer than 366 days to refill makes reset and retry times overflow.
    [InlineData("""{"algorithm":"tokenBucket","limit":1000000000,"refillPerSecond":1e-12}""", "refillPerSecond")]
    [InlineData("""{"algorithm":"tokenBucket","limit":5,"refillPerSecond":5e-324}""", "refillPerSecond")]
    [InlineData("""{"algorithm":"tokenBucket","limit":5,"refillPerSecond":1e300}""", "refillPerSecond")]
    [InlineData("""{"algorithm":"fixedWindow","limit":4294967296,"windowMs":1000}""", "limit")]
    [InlineData("""{"algorithm":"fixedWindow","limit":5,"windowMs":31622400001}""", "windowMs")]
    public async Task PutPolicy_BadBody_Returns400NamingField(string body, string field)
    {
        var response = await Admin.PutAsync($"/v1/tenants/{TestKeys.User("t")}/policies/api", new StringContent(body, Encoding.UTF8, "application/json"), Ct);
        await response.AssertBadFieldAsync(field);
    }

    [Theory]
    [InlineData("""{"tenant":"t","policy":"p","key":"k","cost":-1}""", "cost")]
    [InlineData("""{"policy":"p","key":"k"}""", "tenant")]
    [InlineData("""{"tenant":"t","key":"k"}""", "policy")]
    [InlineData("""{"tenant":"t","policy":"p"}""", "key")]
    [InlineData("""{"tenant":"t","policy":"p","key":"has space"}""", "key")]
    [InlineData("""{"tenant":"bad tenant","policy":"p","key":"k"}""", "tenant")]
    public async Task Check_BadBody_Returns400NamingField(string body, string field)
        => await (await Client.PostRawAsync("/v1/ratelimit/check", body)).AssertBadFieldAsync(field);

    [Fact]
    public async Task Check_SlowestBucketAllowed_EveryHeaderAndFieldInRange()
    {
        // The slowest bucket allowed for its limit: empty to full in exactly 366 days.
        var tenant = await TenantWithPolicyAsync(new { algorithm = "tokenBucket", limit = 1_000_000_000, refillPerSecond = 1_000_000_000 / 31_622_400d });

        var spent = await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "k", cost = 1_000_000_000 });
        var denied = await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "k", cost = 1_000_000_000 });

        Assert.Equal(HttpStatusCode.OK, spent.StatusCode);
        var body = await denied.AssertProblemAsync(HttpStatusCode.TooManyRequests, "rate-limited");
        Assert.InRange(body.GetProperty("retryAfterMs").GetInt64(), 1, 31_622_400_000);
        Assert.InRange(long.Parse(denied.Headers.RetryAfter!.ToString(), System.Globalization.CultureInfo.InvariantCulture), 1, 31_622_400);
        foreach (var header in new[] { "RateLimit", "RateLimit-Policy" })
        {
            var value = string.Join(",", denied.Headers.GetValues(header));
            Assert.DoesNotContain("-", value, StringComparison.Ordinal);
            foreach (var number in System.Text.RegularExpressions.Regex.Matches(value, "[0-9]+").Select(m => long.Parse(m.Value, System.Globalization.CultureInfo.InvariantCulture)))
            {
                Assert.InRange(number, 0, 1_000_000_000);
            }
        }
    }

    [Fact]
    public async Task Check_KeyTooLong_Returns400()
        => await (await Client.PostJsonAsync("/v1/ratelimit/check", new { tenant = "t", policy = "p", key = new string('k', 257) })).AssertBadFieldAsync("key");

    [Fact]
    public async Task CheckBatch_TooManyOrNone_Returns400NamingChecks()
    {
        var many = Enumerable.Range(0, 65).Select(i => new { tenant = "t", policy = "p", key = $"k{i}" }).ToArray();

        await (await Client.PostJsonAsync("/v1/ratelimit/check-batch", new { checks = many })).AssertBadFieldAsync("checks");
        await (await Client.PostJsonAsync("/v1/ratelimit/check-batch", new { checks = Array.Empty<object>() })).AssertBadFieldAsync("checks");
        await (await Client.PostJsonAsync("/v1/ratelimit/check-batch", new { checks = new[] { new { tenant = "t", policy = "p", key = "k", cost = -2 } } }))
            .AssertBadFieldAsync("checks[0].cost");
    }

    [Fact]
    public async Task TokenBudget_ReserveCommitAndSnapshot()
    {
        var tenant = TestKeys.User("llm");
        Assert.Equal(HttpStatusCode.OK, (await Admin.PutJsonAsync($"/v1/tenants/{tenant}/tokens/budget", new { budget = 1000, period = "month" })).StatusCode);

        var reserve = await (await Client.PostJsonAsync($"/v1/tenants/{tenant}/tokens/reserve", new { tokens = 800, ttlMs = 60_000 })).JsonAsync();
        var tooMuch = await Client.PostJsonAsync($"/v1/tenants/{tenant}/tokens/reserve", new { tokens = 300 });
        var commit = await (await Client.PostJsonAsync($"/v1/tenants/{tenant}/tokens/commit",
            new { reservationId = reserve.GetProperty("reservationId").GetString(), actualTokens = 500 })).JsonAsync();
        var again = await Client.PostJsonAsync($"/v1/tenants/{tenant}/tokens/commit",
            new { reservationId = reserve.GetProperty("reservationId").GetString(), actualTokens = 500 });
        var snapshot = await (await Client.GetAsync($"/v1/tenants/{tenant}/tokens", Ct)).JsonAsync();

        Assert.Equal(200, reserve.GetProperty("remaining").GetInt64());
        await tooMuch.AssertProblemAsync(HttpStatusCode.TooManyRequests, "token-budget-exhausted");
        Assert.Equal((300L, 500L, 500L), (commit.GetProperty("returned").GetInt64(), commit.GetProperty("used").GetInt64(), commit.GetProperty("remaining").GetInt64()));
        await again.AssertProblemAsync(HttpStatusCode.NotFound, "reservation-not-found");
        Assert.Equal(("month", 1000L, 500L, 0L), (snapshot.GetProperty("period").GetString(), snapshot.GetProperty("budget").GetInt64(),
            snapshot.GetProperty("used").GetInt64(), snapshot.GetProperty("reserved").GetInt64()));
        var resetAt = DateTimeOffset.FromUnixTimeMilliseconds(snapshot.GetProperty("resetAtMs").GetInt64());
        Assert.Equal((1, 0, 0), (resetAt.Day, resetAt.Hour, resetAt.Minute));
    }

    [Fact]
    public async Task TokenBudget_UnknownTenantAndBadInput()
    {
        var tenant = TestKeys.User("none");

        await (await Client.PostJsonAsync($"/v1/tenants/{tenant}/tokens/reserve", new { tokens = 1 })).AssertProblemAsync(HttpStatusCode.NotFound, "token-budget-not-found");
        await (await Client.GetAsync($"/v1/tenants/{tenant}/tokens", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "token-budget-not-found");
        await (await Admin.PutJsonAsync($"/v1/tenants/{tenant}/tokens/budget", new { budget = 10, period = "week" })).AssertBadFieldAsync("period");
        await (await Admin.PutJsonAsync($"/v1/tenants/{tenant}/tokens/budget", new { budget = -1, period = "day" })).AssertBadFieldAsync("budget");
        await Admin.PutJsonAsync($"/v1/tenants/{tenant}/tokens/budget", new { budget = 10, period = "day" });
        await (await Client.PostJsonAsync($"/v1/tenants/{tenant}/tokens/reserve", new { tokens = 0 })).AssertBadFieldAsync("tokens");
        await (await Client.PostJsonAsync($"/v1/tenants/{tenant}/tokens/reserve", new { tokens = 1, ttlMs = 10 })).AssertBadFieldAsync("ttlMs");
        await (await Client.PostJsonAsync($"/v1/tenants/{tenant}/tokens/commit", new { reservationId = "x", actualTokens = -1 })).AssertBadFieldAsync("actualTokens");
    }

    [Fact]
    public async Task Config_EtagAndIfMatch_RejectStaleWrites()
    {
        var tenant = TestKeys.User("cfg");
        var missing = await Client.GetAsync($"/v1/tenants/{tenant}/config", Ct);

        var first = await Admin.PutAsync($"/v1/tenants/{tenant}/config", Json("""{"upstream":"a","retries":2}"""), Ct);
        var read = await Client.GetAsync($"/v1/tenants/{tenant}/config", Ct);
        var conditional = new HttpRequestMessage(HttpMethod.Put, $"/v1/tenants/{tenant}/config") { Content = Json("""{"upstream":"b"}""") };
        conditional.Headers.IfMatch.Add(read.Headers.ETag!);
        var second = await Admin.SendAsync(conditional, Ct);
        var stale = new HttpRequestMessage(HttpMethod.Put, $"/v1/tenants/{tenant}/config") { Content = Json("""{"upstream":"c"}""") };
        stale.Headers.IfMatch.Add(read.Headers.ETag!);
        var refused = await Admin.SendAsync(stale, Ct);

        await missing.AssertProblemAsync(HttpStatusCode.NotFound, "tenant-config-not-found");
        Assert.Equal("\"1\"", first.Headers.ETag?.Tag);
        Assert.Equal("\"1\"", read.Headers.ETag?.Tag);
        Assert.Equal("a", (await read.JsonAsync()).GetProperty("upstream").GetString());
        Assert.Equal("\"2\"", second.Headers.ETag?.Tag);
        var problem = await refused.AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");
        Assert.Equal(2, problem.GetProperty("currentVersion").GetInt64());
        Assert.Equal("b", (await (await Client.GetAsync($"/v1/tenants/{tenant}/config", Ct)).JsonAsync()).GetProperty("upstream").GetString());
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("{not json")]
    public async Task Config_NotAJsonObject_Returns400(string body)
        => await (await Admin.PutAsync($"/v1/tenants/{TestKeys.User("cfg")}/config", Json(body), Ct)).AssertBadFieldAsync("config");

    [Fact]
    public async Task Config_OverTheSizeLimit_Returns400()
    {
        var big = "{\"x\":\"" + new string('a', 70_000) + "\"}";

        await (await Admin.PutAsync($"/v1/tenants/{TestKeys.User("cfg")}/config", Json(big), Ct)).AssertBadFieldAsync("config");
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
}
