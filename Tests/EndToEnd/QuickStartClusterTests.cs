using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.EndToEnd;

/// <summary>
/// The README's cluster quick start as real processes: Redis, two silos, one gateway, on loopback.
/// Then <c>kill -9</c> of a silo under the gateway, and what survives it.
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class QuickStartClusterTests(ITestOutputHelper output)
{
    private const string AdminToken = "e2e-admin-token-0123456789abcdef";
    private const string ClientToken = "e2e-client-token-0123456789abcdef";

    [Fact(Timeout = 240_000)]
    public async Task KillNineOfASilo_GatewayKeepsServing_AndAcknowledgedStateSurvives()
    {
        // Arrange: the quick start.
        await using var redis = await RedisServer.StartAsync();
        var serviceId = "e2e" + Guid.NewGuid().ToString("N")[..8];
        var common = new Dictionary<string, string>
        {
            ["Redis__ConnectionString"] = redis.ConnectionString,
            ["Orleans__ServiceId"] = serviceId,
            ["Auth__AdminTokens__0"] = AdminToken,
            ["Auth__ClientTokens__0"] = ClientToken,
            ["Logging__LogLevel__Default"] = "Warning",
            ["Security__SessionKeys__0__Id"] = "k1",
            ["Security__SessionKeys__0__Key"] = TestSecrets.NewSessionKey,
            ["Security__ApiKeyHmacSecret"] = TestSecrets.HmacSecret,
        };
        await using var silo1 = CoordinatorProcess.Start("Silo", RedisServer.FreePort(), With(common, ("Orleans__SiloPort", RedisServer.FreePort()), ("Orleans__GatewayPort", RedisServer.FreePort())));
        await using var silo2 = CoordinatorProcess.Start("Silo", RedisServer.FreePort(), With(common, ("Orleans__SiloPort", RedisServer.FreePort()), ("Orleans__GatewayPort", RedisServer.FreePort())));
        await Task.WhenAll(silo1.WaitUntilReadyAsync(TimeSpan.FromSeconds(60)), silo2.WaitUntilReadyAsync(TimeSpan.FromSeconds(60)));
        await using var gateway = CoordinatorProcess.Start("Gateway", RedisServer.FreePort(), With(common, ("Gateway__GrpcPort", RedisServer.FreePort())));
        await gateway.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);

        // Every silo serves the dashboard behind the admin token, and health without it.
        using (var siloHttp = new HttpClient { BaseAddress = silo2.BaseAddress })
        {
            Assert.Equal(HttpStatusCode.OK, (await siloHttp.GetAsync("/healthz", TestContext.Current.CancellationToken)).StatusCode);
            var siloMetrics = await siloHttp.GetAsync("/metrics", TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, siloMetrics.StatusCode);
            Assert.Contains("# TYPE", await siloMetrics.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
            await (await siloHttp.GetAsync("/dashboard/", TestContext.Current.CancellationToken)).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
            siloHttp.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ClientToken);
            await (await siloHttp.GetAsync("/dashboard/", TestContext.Current.CancellationToken)).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
            siloHttp.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
            Assert.Equal(HttpStatusCode.OK, (await siloHttp.GetAsync("/dashboard/", TestContext.Current.CancellationToken)).StatusCode);
        }

        // Acknowledged writes spread over both silos: 20 users with leases (one released) and 20 mappings.
        const int users = 20;
        var kept = new Dictionary<string, string>();
        for (var i = 0; i < users; i++)
        {
            var user = $"e2e-user-{i}";
            var first = await AcquireAsync(http, user);
            var second = await AcquireAsync(http, user);
            Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/v1/users/{user}/connections/{second}", TestContext.Current.CancellationToken)).StatusCode);
            kept[user] = first;
            Assert.Equal(HttpStatusCode.OK, (await http.PutJsonAsync($"/v1/mappings/e2e-{i}@example.com", new { destination = $"dest-{i}" })).StatusCode);
        }

        // Act: SIGKILL one silo.
        silo1.KillHard();
        var killed = Stopwatch.StartNew();

        // Assert: every key answers again within a bounded time. Each key is polled on its own, so a call that
        // was in flight to the dead silo (and waits out the response timeout) does not hide the others' recovery.
        var paths = Enumerable.Range(0, users)
            .SelectMany(i => new[] { $"/v1/users/e2e-user-{i}/connections", $"/v1/mappings/e2e-{i}@example.com" })
            .ToList();
        var outcomes = await Task.WhenAll(paths.Select(path => PollUntilOkAsync(http, path, killed, TimeSpan.FromSeconds(30))));
        var recoveredMs = outcomes.Max(o => o.RecoveredMs);
        var slowestFailureMs = outcomes.Max(o => o.SlowestFailureMs);
        output.WriteLine($"All {users} users and {users} mappings answered again {recoveredMs} ms after kill -9 " +
                         $"({outcomes.Count(o => o.Failures > 0)} keys saw failures first); slowest failed call took {slowestFailureMs} ms.");

        for (var i = 0; i < users; i++)
        {
            var list = await (await http.GetAsync($"/v1/users/e2e-user-{i}/connections", TestContext.Current.CancellationToken)).JsonAsync();
            var ids = list.GetProperty("leases").EnumerateArray().Select(l => l.GetProperty("leaseId").GetString()).ToList();
            Assert.Equal([kept[$"e2e-user-{i}"]], ids);
            var mapping = await (await http.GetAsync($"/v1/mappings/e2e-{i}@example.com", TestContext.Current.CancellationToken)).JsonAsync();
            Assert.Equal($"dest-{i}", mapping.GetProperty("destination").GetString());
        }

        Assert.True(recoveredMs < 15_000, $"recovery took {recoveredMs} ms");
        // Orleans:ResponseTimeout is 3 s: a call caught in flight to the dead silo fails by then (Orleans checks
        // timeouts about once a second, so allow up to 2 s more).
        Assert.True(slowestFailureMs < 5_000, $"a failing call took {slowestFailureMs} ms: calls must fail within the response timeout");
    }

    [Fact(Timeout = 60_000)]
    public async Task ClusterGatewayWithoutTokens_ExitsWithAClearMessage()
    {
        await using var gateway = CoordinatorProcess.Start("Gateway", RedisServer.FreePort(), new Dictionary<string, string>
        {
            ["Redis__ConnectionString"] = "127.0.0.1:1",
        });

        var exitCode = await gateway.WaitForExitAsync(TimeSpan.FromSeconds(45));

        Assert.Equal(2, exitCode);
        Assert.Contains("Gateway refused to start", gateway.Output, StringComparison.Ordinal);
        Assert.Contains("Auth__AdminTokens__0", gateway.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", gateway.Output, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task SiloWithoutRedis_ExitsWithAClearMessage()
    {
        await using var silo = CoordinatorProcess.Start("Silo", RedisServer.FreePort(), new Dictionary<string, string>());

        var exitCode = await silo.WaitForExitAsync(TimeSpan.FromSeconds(45));

        Assert.Equal(2, exitCode);
        Assert.Contains("Redis:ConnectionString", silo.Output, StringComparison.Ordinal);
    }

    private static async Task<(long RecoveredMs, long SlowestFailureMs, int Failures)> PollUntilOkAsync(
        HttpClient http, string path, Stopwatch sinceKill, TimeSpan timeout)
    {
        var (slowest, failures) = (0L, 0);
        while (sinceKill.Elapsed < timeout)
        {
            var call = Stopwatch.StartNew();
            var response = await http.GetAsync(path, TestContext.Current.CancellationToken);
            if (response.IsSuccessStatusCode)
            {
                return (sinceKill.ElapsedMilliseconds, slowest, failures);
            }

            await response.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            (slowest, failures) = (Math.Max(slowest, call.ElapsedMilliseconds), failures + 1);
        }

        throw new TimeoutException($"{path} did not answer 200 within {timeout.TotalSeconds} s of the kill ({failures} failures).");
    }

    private static async Task<string> AcquireAsync(HttpClient http, string user)
    {
        var response = await http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "e2e-proxy" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("leaseId").GetString()!;
    }

    private static Dictionary<string, string> With(Dictionary<string, string> common, params (string Key, int Value)[] extra)
    {
        var all = new Dictionary<string, string>(common);
        foreach (var (key, value) in extra)
        {
            all[key] = value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return all;
    }
}
