using System.Net;
using System.Text;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Identity;

[Collection(EmbeddedGatewayCollection.Name)]
public sealed class IdentityApiTests(EmbeddedGatewayFixture fixture)
{
    private HttpClient Client => fixture.Client;

    private HttpClient Admin => fixture.Admin;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<string> CreateSessionAsync(string subject, object? data = null, long ttlMs = 60_000, bool sliding = false)
    {
        var response = await Client.PostJsonAsync("/v1/sessions", new { subject, tenant = "acme", data = data ?? new { role = "user" }, ttlMs, sliding });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.JsonAsync();
        Assert.True(body.GetProperty("expiresAtMs").GetInt64() > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        return body.GetProperty("sessionId").GetString()!;
    }

    [Fact]
    public async Task Session_CreateReadUpdateDelete()
    {
        var subject = TestKeys.User("sub");
        var id = await CreateSessionAsync(subject, new { cart = new[] { 1, 2 }, name = "Ada" });

        var read = await (await Client.GetAsync($"/v1/sessions/{id}", Ct)).JsonAsync();
        var put = await Client.PutAsync($"/v1/sessions/{id}/data", new StringContent("""{"cart":[3]}""", Encoding.UTF8, "application/json"), Ct);
        var reread = await (await Client.GetAsync($"/v1/sessions/{id}", Ct)).JsonAsync();
        var delete = await Client.DeleteAsync($"/v1/sessions/{id}", Ct);
        var gone = await Client.GetAsync($"/v1/sessions/{id}", Ct);

        Assert.Matches("^[0-9a-f]{32}$", id);
        Assert.Equal(subject, read.GetProperty("subject").GetString());
        Assert.Equal("acme", read.GetProperty("tenant").GetString());
        Assert.Equal("Ada", read.GetProperty("data").GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(3, reread.GetProperty("data").GetProperty("cart")[0].GetInt32());
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        await gone.AssertProblemAsync(HttpStatusCode.NotFound, "session-not-found");
    }

    [Fact]
    public async Task Session_Expired_Answers404()
    {
        var id = await CreateSessionAsync(TestKeys.User("exp"), ttlMs: 1_000);

        await Wait.UntilAsync(async () => (await Client.GetAsync($"/v1/sessions/{id}", Ct)).StatusCode == HttpStatusCode.NotFound,
            TimeSpan.FromSeconds(10), $"session {id} with a 1 s ttl to answer 404");
    }

    [Fact]
    public async Task Session_Sliding_ReadPushesExpiry()
    {
        var id = await CreateSessionAsync(TestKeys.User("slide"), ttlMs: 10_000, sliding: true);
        var first = (await (await Client.GetAsync($"/v1/sessions/{id}", Ct)).JsonAsync()).GetProperty("expiresAtMs").GetInt64();

        long later = first;
        await Wait.UntilAsync(async () =>
        {
            later = (await (await Client.GetAsync($"/v1/sessions/{id}", Ct)).JsonAsync()).GetProperty("expiresAtMs").GetInt64();
            return later >= first + 1_000;
        }, TimeSpan.FromSeconds(5), $"sliding session {id} to move its expiry by a tenth of its ttl");
        Assert.True(later > first);
    }

    [Fact]
    public async Task Subject_LogOutEverywhere_EndsEverySession()
    {
        var subject = TestKeys.User("everywhere");
        var ids = new[] { await CreateSessionAsync(subject), await CreateSessionAsync(subject), await CreateSessionAsync(subject) };
        var other = await CreateSessionAsync(TestKeys.User("bystander"));

        var logout = await (await Client.DeleteAsync($"/v1/subjects/{subject}/sessions", Ct)).JsonAsync();

        Assert.Equal(3, logout.GetProperty("ended").GetInt32());
        foreach (var id in ids)
        {
            Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"/v1/sessions/{id}", Ct)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"/v1/sessions/{other}", Ct)).StatusCode);
    }

    [Theory]
    [InlineData("""{"tenant":"acme","data":{}}""", "subject")]
    [InlineData("""{"subject":"s","data":{}}""", "tenant")]
    [InlineData("""{"subject":"s","tenant":"acme","data":[1]}""", "data")]
    [InlineData("""{"subject":"s","tenant":"acme","data":"text"}""", "data")]
    [InlineData("""{"subject":"s","tenant":"acme","ttlMs":10}""", "ttlMs")]
    [InlineData("""{"subject":"s","tenant":"acme","ttlMs":2592000001}""", "ttlMs")]
    public async Task Session_BadBody_Returns400NamingField(string body, string field)
        => await (await Client.PostRawAsync("/v1/sessions", body)).AssertBadFieldAsync(field);

    [Fact]
    public async Task Session_DataOverSizeLimit_Returns400()
        => await (await Client.PostJsonAsync("/v1/sessions", new { subject = "s", tenant = "acme", data = new { blob = new string('x', 17_000) } }))
            .AssertBadFieldAsync("data");

    [Fact]
    public async Task Session_BadId_Returns400()
        => await (await Client.GetAsync("/v1/sessions/not-an-id", Ct)).AssertBadFieldAsync("sessionId");

    [Fact]
    public async Task Replay_FirstUseThenConflict_PerIssuer()
    {
        var jti = Guid.NewGuid().ToString();
        var exp = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds();

        var first = await Client.PostJsonAsync("/v1/replay/check", new { jti, issuer = "https://idp.example", expiresAtMs = exp });
        var again = await Client.PostJsonAsync("/v1/replay/check", new { jti, issuer = "https://idp.example", expiresAtMs = exp });
        var otherIssuer = await Client.PostJsonAsync("/v1/replay/check", new { jti, issuer = "https://other.example", expiresAtMs = exp });

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.True((await first.JsonAsync()).GetProperty("firstUse").GetBoolean());
        var problem = await again.AssertProblemAsync(HttpStatusCode.Conflict, "replayed-token");
        Assert.True(problem.GetProperty("refusedUntilMs").GetInt64() >= exp);
        Assert.DoesNotContain(jti, problem.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, otherIssuer.StatusCode);
    }

    [Fact]
    public async Task Replay_IssuerAndJtiSplitDifferently_AreTwoTokens()
    {
        // Issue 13: {"issuer":"a\nb","jti":"c"} then {"issuer":"a","jti":"b\nc"} is a different token, not a replay.
        var suffix = Guid.NewGuid().ToString("N");
        var exp = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds();

        var first = await Client.PostJsonAsync("/v1/replay/check", new { issuer = "a\nb" + suffix, jti = "c", expiresAtMs = exp });
        var second = await Client.PostJsonAsync("/v1/replay/check", new { issuer = "a", jti = "b" + suffix + "\nc", expiresAtMs = exp });

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.True((await second.JsonAsync()).GetProperty("firstUse").GetBoolean());
    }

    [Theory]
    [InlineData(-120_000L)]
    [InlineData(2L * 86_400_000)]
    public async Task Replay_ExpiredOrTooLongLived_Returns400(long offsetMs)
        => await (await Client.PostJsonAsync("/v1/replay/check", new { jti = Guid.NewGuid().ToString(), issuer = "i", expiresAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + offsetMs }))
            .AssertBadFieldAsync("expiresAtMs");

    [Theory]
    [InlineData(long.MaxValue)]
    [InlineData(long.MaxValue - 1)]
    public async Task Replay_ExpiryAtTheEndOfTime_IsTooLongLived_NotExpired(long expiresAtMs)
    {
        var body = await (await Client.PostJsonAsync("/v1/replay/check", new { jti = Guid.NewGuid().ToString(), issuer = "i", expiresAtMs })).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");

        Assert.Contains("longer than", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"issuer":"i","expiresAtMs":1}""", "jti")]
    [InlineData("""{"jti":"j","expiresAtMs":1}""", "issuer")]
    [InlineData("""{"jti":"j","issuer":"i"}""", "expiresAtMs")]
    public async Task Replay_MissingField_Returns400(string body, string field)
        => await (await Client.PostRawAsync("/v1/replay/check", body)).AssertBadFieldAsync(field);

    [Fact]
    public async Task ApiKey_CreateValidateGetRevoke()
    {
        var created = await Admin.PostJsonAsync("/v1/apikeys", new { tenant = "acme", name = "ci-bot", scopes = new[] { "read", "write" } });
        var body = await created.JsonAsync();
        var keyId = body.GetProperty("keyId").GetString()!;
        var apiKey = body.GetProperty("apiKey").GetString()!;

        var valid = await (await Client.PostJsonAsync("/v1/apikeys/validate", new { apiKey })).JsonAsync();
        var got = await Admin.GetAsync($"/v1/apikeys/{keyId}", Ct);
        var gotText = await got.Content.ReadAsStringAsync(Ct);
        var wrong = await Client.PostJsonAsync("/v1/apikeys/validate", new { apiKey = apiKey[..^2] + "xx" });
        var revoke = await Admin.DeleteAsync($"/v1/apikeys/{keyId}", Ct);
        var revoked = await Client.PostJsonAsync("/v1/apikeys/validate", new { apiKey });

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.StartsWith($"ock_{keyId}_", apiKey, StringComparison.Ordinal);
        Assert.Equal(("acme", keyId), (valid.GetProperty("tenant").GetString(), valid.GetProperty("keyId").GetString()));
        Assert.Equal(["read", "write"], valid.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(HttpStatusCode.OK, got.StatusCode);
        Assert.DoesNotContain(apiKey[$"ock_{keyId}_".Length..], gotText, StringComparison.Ordinal);
        await wrong.AssertProblemAsync(HttpStatusCode.Unauthorized, "invalid-api-key");
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        await revoked.AssertProblemAsync(HttpStatusCode.Unauthorized, "invalid-api-key");
        Assert.True((await (await Admin.GetAsync($"/v1/apikeys/{keyId}", Ct)).JsonAsync()).GetProperty("revoked").GetBoolean());
    }

    [Fact]
    public async Task ApiKey_Expired_FailsValidation()
    {
        var body = await (await Admin.PostJsonAsync("/v1/apikeys", new { tenant = "acme", name = "short", expiresAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1_000 })).JsonAsync();
        var apiKey = body.GetProperty("apiKey").GetString();

        await Wait.UntilAsync(async () => (await Client.PostJsonAsync("/v1/apikeys/validate", new { apiKey })).StatusCode == HttpStatusCode.Unauthorized,
            TimeSpan.FromSeconds(10), "an API key expiring after 1 s to stop validating");
    }

    [Theory]
    [InlineData("")]
    [InlineData("ock_short")]
    [InlineData("Bearer abc")]
    [InlineData("ock_0123456789abcdef0123456789abcdef_nope")]
    public async Task ApiKey_MalformedOrUnknown_Returns401(string apiKey)
    {
        var response = await Client.PostJsonAsync("/v1/apikeys/validate", new { apiKey });

        if (apiKey.Length == 0)
        {
            await response.AssertBadFieldAsync("apiKey");
        }
        else
        {
            await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "invalid-api-key");
        }
    }

    [Fact]
    public async Task ApiKey_ManagementNeedsAdmin_AndBadInputIs400()
    {
        await (await Client.PostJsonAsync("/v1/apikeys", new { tenant = "acme", name = "x" })).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await Admin.PostJsonAsync("/v1/apikeys", new { tenant = "acme" })).AssertBadFieldAsync("name");
        await (await Admin.PostJsonAsync("/v1/apikeys", new { tenant = "acme", name = "x", scopes = new[] { "bad scope" } })).AssertBadFieldAsync("scopes");
        await (await Admin.PostJsonAsync("/v1/apikeys", new { tenant = "acme", name = "x", expiresAtMs = 5 })).AssertBadFieldAsync("expiresAtMs");
        await (await Admin.GetAsync("/v1/apikeys/nope", Ct)).AssertBadFieldAsync("keyId");
        await (await Admin.GetAsync($"/v1/apikeys/{Guid.NewGuid():N}", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "apikey-not-found");
    }
}
