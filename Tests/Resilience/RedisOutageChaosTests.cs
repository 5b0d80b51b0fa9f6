using System.Diagnostics;
using System.Globalization;
using System.Net;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Resilience;

/// <summary>
/// Chaos: Redis stopped under a running cluster and gateway (default 50 ms data-plane timeout), then restarted
/// with its AOF: each feature answers by its contract within the timeout, and everything recovers without
/// restarting a process.
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class RedisOutageChaosTests(ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 240_000)]
    public async Task RedisStopped_EachFeatureAnswersByItsContract_AndAllRecoverAfterRestart()
    {
        // Arrange
        await using var redis = await RedisServer.StartAsync();
        var prefix = TestKeys.Prefix("ro");
        var cluster = await RedisClusterFixture.StartClusterAsync(redis, prefix, silos: 1);
        try
        {
            await using var gateway = await GatewayHost.StartAsync(RedisClusterFixture.StandaloneGatewaySettings(redis, prefix, cluster, new Dictionary<string, string?>
            {
                ["Gateway:GrpcPort"] = RedisServer.FreePort().ToString(CultureInfo.InvariantCulture),
            }));
            using var http = gateway.CreateClient();
            var (cached, unseen, budgeted) = (TestKeys.User("cached"), TestKeys.User("unseen"), TestKeys.User("budget"));
            var user = TestKeys.User("lease");
            Assert.Equal(HttpStatusCode.OK, (await http.PutJsonAsync($"/v1/tenants/{cached}/policies/api", new { algorithm = "fixedWindow", limit = 3, windowMs = 86_400_000 })).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.PostJsonAsync("/v1/ratelimit/check", new { tenant = cached, policy = "api", key = "k", cost = 0 })).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.PutJsonAsync($"/v1/tenants/{budgeted}/tokens/budget", new { budget = 1000, period = "month" })).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.PostJsonAsync($"/v1/tenants/{budgeted}/tokens/reserve", new { tokens = 10 })).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" })).StatusCode);

            // Act: Redis dies.
            await redis.KillAsync();
            var killedAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var answers = new List<(string What, HttpResponseMessage Response, double Ms)>();
            async Task<HttpResponseMessage> Timed(string what, Func<Task<HttpResponseMessage>> call)
            {
                var watch = Stopwatch.StartNew();
                var response = await call();
                answers.Add((what, response, watch.Elapsed.TotalMilliseconds));
                return response;
            }

            // Assert: leases fail closed.
            await (await Timed("lease", () => http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" })))
                .AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");

            // Rate limits: a policy this gateway holds is still enforced exactly by the in-memory counter grains...
            var enforced = new List<HttpStatusCode>();
            for (var i = 0; i < 4; i++)
            {
                enforced.Add((await Timed("ratelimit (cached policy)", () => http.PostJsonAsync("/v1/ratelimit/check", new { tenant = cached, policy = "api", key = "k" }))).StatusCode);
            }

            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], enforced);

            // ...and one whose policy must be read from storage fails open, marked degraded.
            var open = await Timed("ratelimit (policy in storage)", () => http.PostJsonAsync("/v1/ratelimit/check", new { tenant = unseen, policy = "api", key = "k" }));
            Assert.Equal(HttpStatusCode.OK, open.StatusCode);
            Assert.Equal("degraded", open.Headers.GetValues("X-RateLimit-Status").Single());
            Assert.Equal("degraded", open.Headers.GetValues("X-Coordinator-Mode").Single());

            // Token budgets fail open, marked degraded.
            var tokens = await Timed("tokens", () => http.PostJsonAsync($"/v1/tenants/{budgeted}/tokens/reserve", new { tokens = 10 }));
            Assert.Equal(HttpStatusCode.OK, tokens.StatusCode);
            Assert.Equal("degraded", tokens.Headers.GetValues("X-Coordinator-Mode").Single());

            // Sessions, jti and API keys fail hard (ext_authz: gRPC UNAVAILABLE, so Envoy's failure_mode_allow decides).
            await (await Timed("session", () => http.PostJsonAsync("/v1/sessions", new { subject = "s", tenant = "t", data = new { } })))
                .AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            await (await Timed("jti", () => http.PostJsonAsync("/v1/replay/check", new { jti = Guid.NewGuid().ToString(), issuer = "i", expiresAtMs = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds() })))
                .AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");

            await (await Timed("apikey", () => http.PostJsonAsync("/v1/apikeys/validate", new { apiKey = $"ock_{Guid.NewGuid():N}_secret" })))
                .AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(gateway.GrpcAddress!);
            var authz = new Orleans.Coordinator.Envoy.Auth.Authorization.AuthorizationClient(channel);
            var request = new Orleans.Coordinator.Envoy.Auth.CheckRequest
            {
                Attributes = new() { Request = new() { Http = new() { Headers = { ["x-api-key"] = $"ock_{Guid.NewGuid():N}_secret" } } } },
            };
            var rpc = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => authz.CheckAsync(request, cancellationToken: Ct).ResponseAsync);
            Assert.Equal(Grpc.Core.StatusCode.Unavailable, rpc.StatusCode);

            // Readiness fails and reports the mode; liveness holds.
            var ready = await Timed("readyz", () => http.GetAsync("/readyz", Ct));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Equal("degraded", (await ready.JsonAsync()).GetProperty("mode").GetString());
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz", Ct)).StatusCode);

            var dataPlane = answers.Where(a => a.What is not ("session" or "jti" or "apikey" or "readyz")).ToList();
            var slowestDataPlane = dataPlane.Max(a => a.Ms);
            var slowestAny = answers.Max(a => a.Ms);
            Assert.True(slowestDataPlane < 1000, $"a data-plane answer took {slowestDataPlane:0} ms: " + string.Join(", ", dataPlane.Select(a => $"{a.What} {a.Ms:0} ms")));

            // Act: Redis restarts with its AOF; no process is restarted.
            await redis.RestartAsync();
            var restartedAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var restarted = Stopwatch.StartNew();
            var acknowledged = 1;
            await Wait.UntilAsync(async () =>
            {
                var lease = await http.PostJsonAsync($"/v1/users/{TestKeys.User("after")}/connections", new { instanceId = "p" });
                return lease.StatusCode == HttpStatusCode.Created && !lease.Headers.Contains("X-Coordinator-Mode")
                       && (await http.PostJsonAsync("/v1/sessions", new { subject = "s", tenant = "t", data = new { } })).StatusCode == HttpStatusCode.Created
                       && (await http.GetAsync("/readyz", Ct)).StatusCode == HttpStatusCode.OK;
            },
                TimeSpan.FromSeconds(30), "leases (from the grains), sessions and readiness to recover after Redis restarted");
            var recoveredMs = restarted.ElapsedMilliseconds;

            // Assert: the lease acknowledged before the outage survived the AOF replay.
            var listing = await (await http.GetAsync($"/v1/users/{user}/connections", Ct)).JsonAsync();
            Assert.True(acknowledged == listing.GetProperty("active").GetInt32(), $"killed at {killedAtMs}, restarted at {restartedAtMs}: {listing}");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Redis down: slowest data-plane answer {slowestDataPlane:0} ms, slowest answer of any kind {slowestAny:0} ms " +
                $"({string.Join(", ", answers.Select(a => $"{a.What} {a.Ms:0}"))}); recovered {recoveredMs} ms after Redis restarted (target 30 s)."));
        }
        finally
        {
            await cluster.StopAllSilosAsync(CancellationToken.None);
            await cluster.DisposeAsync();
        }
    }
}
