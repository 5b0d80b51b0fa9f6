using System.Net;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Gateway;

[Collection(EmbeddedGatewayCollection.Name)]
public sealed class ConnectionsApiTests(EmbeddedGatewayFixture fixture)
{
    private HttpClient Http => fixture.Client;

    [Fact]
    public async Task AcquireConnection_UnderLimit_Returns201WithLeaseAndLocation()
    {
        var user = TestKeys.User();

        var response = await Http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "proxy-1", ttlMs = 30_000 });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.JsonAsync();
        var leaseId = body.GetProperty("leaseId").GetString();
        Assert.Matches("^[0-9a-f]{32}$", leaseId);
        Assert.Equal(1, body.GetProperty("active").GetInt32());
        Assert.Equal(2, body.GetProperty("limit").GetInt32());
        Assert.True(body.GetProperty("expiresAtMs").GetInt64() > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 25_000);
        Assert.Equal($"/v1/users/{user}/connections/{leaseId}", response.Headers.Location?.ToString());
    }

    [Fact]
    public async Task AcquireConnection_AtLimit_Returns429ProblemWithLimitActiveAndRetryAfter()
    {
        var user = TestKeys.User();
        await Http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" });
        await Http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p", ttlMs = 20_000 });

        var response = await Http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" });

        var problem = await response.AssertProblemAsync(HttpStatusCode.TooManyRequests, "connection-limit");
        Assert.Equal(2, problem.GetProperty("limit").GetInt32());
        Assert.Equal(2, problem.GetProperty("active").GetInt32());
        Assert.Equal(0, problem.GetProperty("remaining").GetInt32());
        var retryAfterMs = problem.GetProperty("retryAfterMs").GetInt64();
        Assert.InRange(retryAfterMs, 1, 20_000);
        Assert.NotNull(response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task RenewAndRelease_Lifecycle_AnswersAsDocumented()
    {
        // Arrange
        var user = TestKeys.User();
        var acquired = await (await Http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" })).JsonAsync();
        var leaseId = acquired.GetProperty("leaseId").GetString();

        // Act + Assert: renew with and without a body.
        var renewed = await Http.PostJsonAsync($"/v1/users/{user}/connections/{leaseId}/renew", new { ttlMs = 120_000 });
        Assert.Equal(HttpStatusCode.OK, renewed.StatusCode);
        Assert.True((await renewed.JsonAsync()).GetProperty("expiresAtMs").GetInt64() > acquired.GetProperty("expiresAtMs").GetInt64());
        var renewedNoBody = await Http.PostAsync($"/v1/users/{user}/connections/{leaseId}/renew", null, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, renewedNoBody.StatusCode);

        // Release twice: 204 both times.
        var first = await Http.DeleteAsync($"/v1/users/{user}/connections/{leaseId}", TestContext.Current.CancellationToken);
        var second = await Http.DeleteAsync($"/v1/users/{user}/connections/{leaseId}", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, second.StatusCode);

        // A released lease cannot be renewed.
        var gone = await Http.PostAsync($"/v1/users/{user}/connections/{leaseId}/renew", null, TestContext.Current.CancellationToken);
        await gone.AssertProblemAsync(HttpStatusCode.NotFound, "lease-not-found");
        var status = await (await Http.GetAsync($"/v1/users/{user}", TestContext.Current.CancellationToken)).JsonAsync();
        Assert.Equal(0, status.GetProperty("activeConnections").GetInt32());
    }

    [Fact]
    public async Task ListConnections_ShowsLiveLeases()
    {
        var user = TestKeys.User();
        await Http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "proxy-a" });

        var list = await (await Http.GetAsync($"/v1/users/{user}/connections", TestContext.Current.CancellationToken)).JsonAsync();

        Assert.Equal(1, list.GetProperty("active").GetInt32());
        Assert.Equal("proxy-a", list.GetProperty("leases")[0].GetProperty("instanceId").GetString());
    }

    [Fact]
    public async Task Bytes_UntilBudgetSpent_Then429WithRetryAfter()
    {
        var user = TestKeys.User();

        var ok = await Http.PostJsonAsync($"/v1/users/{user}/bytes", new { bytes = 1000 });
        var denied = await Http.PostJsonAsync($"/v1/users/{user}/bytes", new { bytes = 1 });

        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var body = await ok.JsonAsync();
        Assert.Equal((1000L, 1000L, 0L), (body.GetProperty("used").GetInt64(), body.GetProperty("budget").GetInt64(), body.GetProperty("remaining").GetInt64()));
        Assert.True(body.GetProperty("resetAtMs").GetInt64() > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var problem = await denied.AssertProblemAsync(HttpStatusCode.TooManyRequests, "byte-budget-exhausted");
        Assert.Equal(1000, problem.GetProperty("limit").GetInt64());
        Assert.Equal(0, problem.GetProperty("remaining").GetInt64());
        Assert.NotNull(denied.Headers.RetryAfter);
    }

    [Fact]
    public async Task GetUser_ReportsConnectionsAndBytes()
    {
        var user = TestKeys.User();
        await Http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" });
        await Http.PostJsonAsync($"/v1/users/{user}/bytes", new { bytes = 123 });

        var status = await (await Http.GetAsync($"/v1/users/{user}", TestContext.Current.CancellationToken)).JsonAsync();

        Assert.Equal(1, status.GetProperty("activeConnections").GetInt32());
        Assert.Equal(2, status.GetProperty("maxConnections").GetInt32());
        Assert.Equal(123, status.GetProperty("bytesUsed").GetInt64());
        Assert.Equal(1000, status.GetProperty("byteBudget").GetInt64());
        Assert.True(status.GetProperty("windowResetAtMs").GetInt64() > 0);
    }

    [Fact]
    public async Task PutLimits_AsAdmin_AppliesPerUser()
    {
        var user = TestKeys.User();

        var put = await fixture.Admin.PutJsonAsync($"/v1/users/{user}/limits", new { maxConnections = 5, byteBudget = 1_073_741_824L, budgetWindowMs = 86_400_000L });

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var limits = await put.JsonAsync();
        Assert.Equal(5, limits.GetProperty("maxConnections").GetInt32());
        Assert.Equal(1_073_741_824L, limits.GetProperty("byteBudget").GetInt64());
        Assert.Equal(86_400_000L, limits.GetProperty("budgetWindowMs").GetInt64());
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.Created, (await Http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" })).StatusCode);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, (await Http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" })).StatusCode);
    }
}
