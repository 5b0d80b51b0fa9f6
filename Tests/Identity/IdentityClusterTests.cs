using System.Net;
using System.Text;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Identity;
using Orleans.Coordinator.Tests.Infrastructure;
using StackExchange.Redis;

namespace Orleans.Coordinator.Tests.Identity;

/// <summary>Identity state on the Redis cluster: nothing readable in Redis, kills survived, revocation seen everywhere.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class IdentityClusterTests(RedisClusterFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task RedisScan_FindsNoPlaintextSessionDataOrApiKey()
    {
        // Arrange: a session with a marker in its data, and an API key, written through a gateway.
        await using var gateway = await GatewayHost.StartAsync(fixture.GatewaySettings());
        using var admin = gateway.CreateClient(GatewayHost.AdminToken);
        var marker = $"plaintext-marker-{Guid.NewGuid():N}";
        var session = await (await admin.PostJsonAsync("/v1/sessions", new { subject = "scan-user", tenant = "acme", data = new { note = marker } })).JsonAsync();
        var apiKey = (await (await admin.PostJsonAsync("/v1/apikeys", new { tenant = "acme", name = "scan" })).JsonAsync()).GetProperty("apiKey").GetString()!;
        // ock_{keyId}_{secret}: the secret is everything after the second underscore (it may contain '_' itself).
        var secret = apiKey[(apiKey.IndexOf('_', 4) + 1)..];
        var jti = $"jti-{Guid.NewGuid():N}";
        await admin.PostJsonAsync("/v1/replay/check", new { jti, issuer = "scan", expiresAtMs = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds() });

        // Act: every key and every value in Redis.
        await using var redis = await fixture.Redis.ConnectAsync();
        var db = redis.GetDatabase();
        var everything = new StringBuilder();
        foreach (var key in await fixture.Redis.KeysAsync())
        {
            everything.AppendLine(key);
            var type = await db.KeyTypeAsync(key);
            if (type == RedisType.Hash)
            {
                foreach (var entry in await db.HashGetAllAsync(key))
                {
                    everything.Append(entry.Name).Append('=').AppendLine(entry.Value);
                }
            }
            else if (type == RedisType.String)
            {
                everything.AppendLine(await db.StringGetAsync(key));
            }
        }

        // Assert: the session exists in Redis, but only as ciphertext; no key secret; no raw jti.
        var dump = everything.ToString();
        Assert.Contains(session.GetProperty("sessionId").GetString()!, dump, StringComparison.Ordinal);
        Assert.DoesNotContain(marker, dump, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, dump, StringComparison.Ordinal);
        Assert.DoesNotContain(apiKey, dump, StringComparison.Ordinal);
        Assert.DoesNotContain(jti, dump, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task RevokedKey_FailsOnEveryGateway()
    {
        await using var gatewayA = await GatewayHost.StartAsync(fixture.GatewaySettings());
        await using var gatewayB = await GatewayHost.StartAsync(fixture.GatewaySettings());
        using var a = gatewayA.CreateClient(GatewayHost.AdminToken);
        using var b = gatewayB.CreateClient(GatewayHost.ClientToken);
        var created = await (await a.PostJsonAsync("/v1/apikeys", new { tenant = "acme", name = "revoke-me" })).JsonAsync();
        var apiKey = created.GetProperty("apiKey").GetString();
        Assert.Equal(HttpStatusCode.OK, (await b.PostJsonAsync("/v1/apikeys/validate", new { apiKey })).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await a.DeleteAsync($"/v1/apikeys/{created.GetProperty("keyId").GetString()}", Ct)).StatusCode);

        // The documented bound is "the next call": validation always asks the key's grain, no gateway caches it.
        Assert.Equal(HttpStatusCode.Unauthorized, (await b.PostJsonAsync("/v1/apikeys/validate", new { apiKey })).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await a.PostJsonAsync("/v1/apikeys/validate", new { apiKey })).StatusCode);
    }

    [Fact(Timeout = 120_000)]
    public async Task SeenJti_SessionAndApiKey_SurviveKillOfTheirSilos()
    {
        // Arrange
        var jtiHash = GrainKeys.Jti("kill-issuer", Guid.NewGuid().ToString());
        var guard = fixture.Grains.GetGrain<IJtiReplayGuardGrain>(jtiHash);
        var refuseUntil = DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeMilliseconds();
        Assert.True((await guard.CheckAsync(refuseUntil)).FirstUse);
        var sessionId = GrainKeys.NewOpaqueId();
        var session = fixture.Grains.GetGrain<ISessionGrain>(sessionId);
        Assert.NotNull(await session.CreateAsync(new SessionCreateRequest("kill-user", "acme", """{"k":"v"}""", 600_000, false)));
        var keyId = GrainKeys.NewOpaqueId();
        var key = fixture.Grains.GetGrain<IApiKeyGrain>(keyId);
        var secret = await key.CreateAsync(new ApiKeyCreateRequest("acme", "kill", ["read"], null));

        // Act + Assert, one grain at a time: kill its silo (a fresh silo keeps the cluster at two), then ask again.
        await KillHostOfAsync(guard, () => guard.CheckAsync(refuseUntil));
        await Wait.UntilAsync(async () => !(await guard.CheckAsync(refuseUntil)).FirstUse, TimeSpan.FromSeconds(30),
            "the replay guard to answer 'seen before' after its silo was killed");

        await KillHostOfAsync(session, session.GetAsync);
        SessionSnapshot? snapshot = null;
        await Wait.UntilAsync(async () => (snapshot = await session.GetAsync()) is not null, TimeSpan.FromSeconds(30),
            "the session to answer after its silo was killed");
        Assert.Equal("""{"k":"v"}""", snapshot!.DataJson);

        await KillHostOfAsync(key, key.GetAsync);
        ApiKeyInfo? info = null;
        await Wait.UntilAsync(async () => (info = await key.ValidateAsync(secret!)) is not null, TimeSpan.FromSeconds(30),
            "the API key to validate after its silo was killed");
        Assert.Equal("acme", info!.Tenant);
    }

    /// <summary>Activates the grain (earlier kills may have left it without a live activation), then kills its silo.</summary>
    private async Task KillHostOfAsync<T>(IAddressable grain, Func<Task<T>> touch)
    {
        await Wait.UntilAsync(async () => { await touch(); return true; }, TimeSpan.FromSeconds(30), $"{grain} to answer before its silo is killed");
        await fixture.Cluster.KillSiloAsync(await fixture.SiloHostingAsync(grain), Ct);
        await fixture.Cluster.StartAdditionalSiloAsync();
    }
}
