using System.Diagnostics;
using System.Net;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Redis;

/// <summary>What a client sees when Redis goes away under a running cluster: 503 problem details, promptly.</summary>
[Collection(SerialTimingCollection.Name)]
public sealed class RedisOutageTests
{
    [Fact(Timeout = 120_000)]
    public async Task RedisStopped_LeaseWrites_Answer503Promptly_AndRecoverWhenRedisReturns()
    {
        // Arrange: a one-silo Redis cluster and a gateway in front of it.
        var redis = await RedisServer.StartAsync();
        var prefix = TestKeys.Prefix("out");
        var cluster = await RedisClusterFixture.StartClusterAsync(redis, prefix, silos: 1);
        try
        {
            await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
            {
                ["Redis:ConnectionString"] = redis.ConnectionString,
                ["Redis:KeyPrefix"] = prefix,
                ["Orleans:ClusterId"] = cluster.Options.ClusterId,
                ["Orleans:ServiceId"] = cluster.Options.ServiceId,
                ["Auth:Disabled"] = "true",
                ["Gateway:GrpcPort"] = RedisServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            });
            using var http = gateway.CreateClient();
            var user = TestKeys.User("outage");
            Assert.Equal(HttpStatusCode.Created, (await http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" })).StatusCode);

            // Act: Redis dies.
            await redis.KillAsync();
            var call = Stopwatch.StartNew();
            var response = await http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" });
            call.Stop();

            // Assert: fail closed with a problem, within the response timeout.
            await response.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            Assert.True(call.Elapsed < TimeSpan.FromSeconds(5), $"the failing call took {call.ElapsedMilliseconds} ms");

            // Identity state never guesses: 503 (gRPC UNAVAILABLE for ext_authz), within the timeout.
            var identityCalls = Stopwatch.StartNew();
            await (await http.PostJsonAsync("/v1/replay/check", new { jti = Guid.NewGuid().ToString(), issuer = "i", expiresAtMs = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds() }))
                .AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            await (await http.PostJsonAsync("/v1/sessions", new { subject = "s", tenant = "t", data = new { } }))
                .AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            await (await http.PostJsonAsync("/v1/apikeys/validate", new { apiKey = $"ock_{Guid.NewGuid():N}_secret" }))
                .AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(gateway.GrpcAddress!);
            var authz = new Orleans.Coordinator.Envoy.Auth.Authorization.AuthorizationClient(channel);
            var request = new Orleans.Coordinator.Envoy.Auth.CheckRequest
            {
                Attributes = new() { Request = new() { Http = new() { Headers = { ["x-api-key"] = $"ock_{Guid.NewGuid():N}_secret" } } } },
            };
            var rpc = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => authz.CheckAsync(request, cancellationToken: TestContext.Current.CancellationToken).ResponseAsync);
            Assert.Equal(Grpc.Core.StatusCode.Unavailable, rpc.StatusCode);
            Assert.True(identityCalls.Elapsed < TimeSpan.FromSeconds(20), $"four failing identity calls took {identityCalls.ElapsedMilliseconds} ms");

            // When Redis returns (AOF replayed), the same user is served again with what was acknowledged.
            await redis.RestartAsync();
            HttpStatusCode status = default;
            await Wait.UntilAsync(async () =>
            {
                status = (await http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" })).StatusCode;
                return status == HttpStatusCode.Created;
            }, TimeSpan.FromSeconds(30), $"lease writes for {user} to succeed after Redis came back (last status {status})");
            var active = -1;
            await Wait.UntilAsync(async () =>
            {
                var listing = await http.GetAsync($"/v1/users/{user}/connections", TestContext.Current.CancellationToken);
                active = listing.IsSuccessStatusCode ? (await listing.JsonAsync()).GetProperty("active").GetInt32() : -1;
                return active == 2;
            }, TimeSpan.FromSeconds(30), $"the lease listing of {user} to answer again with the 2 acknowledged leases; " +
                "a grant the grain made after its caller had been answered otherwise is released in the background");
            Assert.Equal(2, active);
        }
        finally
        {
            await redis.RestartAsync();
            await cluster.StopAllSilosAsync(CancellationToken.None);
            await cluster.DisposeAsync();
            await redis.DisposeAsync();
        }
    }
}
