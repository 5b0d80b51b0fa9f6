using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Routing;

/// <summary>
/// Push invalidation: a route written with the real <c>redis-cli</c> under the key prefix is served by every gateway
/// within 100 ms (keyspace notifications to the gateways' copies and the mapping grains), and a tenant policy changed
/// through one gateway is in force on another at once.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class RedisCliPushTests(RedisClusterFixture fixture, ITestOutputHelper output)
{

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task RouteSetAndDeletedWithRedisCli_ServedByEveryGateway_Within100Ms()
    {
        var settings = fixture.GatewaySettings();
        settings["Mappings:GatewayCacheTtl"] = "00:00:30"; // long copies: only a push explains a fresh answer
        await using var a = await GatewayHost.StartAsync(settings);
        await using var b = await GatewayHost.StartAsync(settings);
        using var clientA = a.CreateClient(GatewayHost.ClientToken);
        using var clientB = b.CreateClient(GatewayHost.ClientToken);
        var identifier = TestKeys.Identifier("push");
        var key = GrainKeys.RedisRouteKey(fixture.KeyPrefix, identifier);
        async Task<string> DestinationAsync(HttpClient client)
            => (await client.GetFromJsonAsync<JsonElement>($"/v1/mappings/{identifier}", Ct)).GetProperty("destination").GetString()!;

        // Both gateways and the grain hold a copy of "no route" (the default destination).
        Assert.Equal("legacy", await DestinationAsync(clientA));
        Assert.Equal("legacy", await DestinationAsync(clientB));

        var took = new List<double>();
        foreach (var (command, expected) in new[] { (new[] { "SET", key, "imap-7" }, "imap-7"), (new[] { "SET", key, "imap-9" }, "imap-9"), (new[] { "DEL", key }, "legacy") })
        {
            await RedisCliAsync(command);
            var watch = Stopwatch.StartNew();
            foreach (var client in new[] { clientA, clientB })
            {
                await Wait.UntilAsync(async () => await DestinationAsync(client) == expected, TimeSpan.FromSeconds(5),
                    $"every gateway to serve {expected} after redis-cli {command[0]}");
            }

            took.Add(watch.Elapsed.TotalMilliseconds);
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"both gateways served each redis-cli change after {string.Join(", ", took.Select(t => t.ToString("0.0", CultureInfo.InvariantCulture)))} ms"));
        Assert.All(took, t => Assert.True(t < 100, $"a redis-cli change was served by both gateways after {t:0.0} ms; the goal is under 100 ms"));
    }

    [Fact(Timeout = 120_000)]
    public async Task PolicyChangedThroughOneGateway_InForceOnAnother_AtOnce()
    {
        var settings = fixture.GatewaySettings();
        settings["Gateway:TenantCacheTtl"] = "00:00:30"; // long copies: only the announcement explains a fresh answer
        await using var a = await GatewayHost.StartAsync(settings);
        await using var b = await GatewayHost.StartAsync(settings);
        using var adminA = a.CreateClient(GatewayHost.AdminToken);
        using var clientB = b.CreateClient(GatewayHost.ClientToken);
        var tenant = TestKeys.User("tenant");
        Assert.Equal(HttpStatusCode.OK, (await adminA.PutAsJsonAsync($"/v1/tenants/{tenant}/policies/api", new { algorithm = "fixedWindow", limit = 1000, windowMs = 60_000 }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await clientB.PostAsJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = "k0" }, Ct)).StatusCode); // B caches the policy

        Assert.Equal(HttpStatusCode.OK, (await adminA.PutAsJsonAsync($"/v1/tenants/{tenant}/policies/api", new { algorithm = "fixedWindow", limit = 1, windowMs = 60_000 }, Ct)).StatusCode);
        var watch = Stopwatch.StartNew();
        await Wait.UntilAsync(async () =>
        {
            using var answer = await clientB.PostAsJsonAsync("/v1/ratelimit/check", new { tenant, policy = "api", key = $"k{watch.ElapsedTicks}" }, Ct);
            return (await answer.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("limit").GetInt64() == 1;
        }, TimeSpan.FromSeconds(5), "gateway B to decide under the policy changed through gateway A");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gateway B decided under the new policy {watch.Elapsed.TotalMilliseconds:0.0} ms after A's answer"));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"gateway B took {watch.Elapsed.TotalMilliseconds:0} ms (its copy would have lasted 30 s)");
    }

    private async Task RedisCliAsync(string[] command)
    {
        var result = await ExternalProgram.RunAsync("redis-cli", ["-h", "127.0.0.1", "-p", fixture.Redis.Port.ToString(CultureInfo.InvariantCulture), .. command], TimeSpan.FromSeconds(10));
        Assert.True(result.Code == 0, $"redis-cli {string.Join(' ', command)}: {result.All}");
    }
}
