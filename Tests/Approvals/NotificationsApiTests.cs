using System.Net;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Approvals;

/// <summary>The tenant event feed over real HTTP: what approvals and tasks announce, custom events, cursor and ack.</summary>
[Collection(EmbeddedGatewayCollection.Name)]
public sealed class NotificationsApiTests(EmbeddedGatewayFixture fixture)
{
    private HttpClient Client => fixture.Client;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ApprovalsTasksAndCustomEvents_ArriveInOrder_AndAckMovesTheDefaultCursor()
    {
        var tenant = TestKeys.User("tenant");
        var approval = await (await Client.PostJsonAsync($"/v1/tenants/{tenant}/approvals", new { agent = "a", action = "deploy", payload = new { }, expiresInMs = 60_000 })).JsonAsync();
        var id = approval.GetProperty("approvalId").GetString();
        Assert.Equal(HttpStatusCode.OK, (await Client.PostJsonAsync($"/v1/tenants/{tenant}/approvals/{id}/decision", new { decision = "deny", reviewer = "r" })).StatusCode);
        await Client.PostJsonAsync($"/v1/tenants/{tenant}/approvals/{id}/decision", new { decision = "approve", reviewer = "late" }); // 409: no event
        Assert.Equal(HttpStatusCode.Created, (await Client.PutJsonAsync($"/v1/tenants/{tenant}/tasks/t1", new { contextId = "c" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Client.PostJsonAsync($"/v1/tenants/{tenant}/tasks/t1/status", new { state = "working" })).StatusCode);
        var custom = await Client.PostJsonAsync($"/v1/tenants/{tenant}/events", new { type = "billing.invoice_paid", data = new { invoice = "I-7" } });

        var feed = await (await Client.GetAsync($"/v1/tenants/{tenant}/notifications", Ct)).JsonAsync();
        var types = feed.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        var ack = await Client.PostJsonAsync($"/v1/tenants/{tenant}/notifications/ack", new { upTo = 3 });
        var rest = await (await Client.GetAsync($"/v1/tenants/{tenant}/notifications?limit=2", Ct)).JsonAsync();

        Assert.Equal(HttpStatusCode.Created, custom.StatusCode);
        Assert.Equal(["approval.requested", "approval.decided", "task.status_changed", "task.status_changed", "billing.invoice_paid"], types);
        Assert.Equal("denied", feed.GetProperty("events")[1].GetProperty("data").GetProperty("status").GetString());
        Assert.Equal("working", feed.GetProperty("events")[3].GetProperty("data").GetProperty("state").GetString());
        Assert.Equal(5, feed.GetProperty("nextCursor").GetInt64());
        Assert.Equal(3, (await ack.JsonAsync()).GetProperty("upTo").GetInt64());
        Assert.Equal([4L, 5L], rest.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("sequence").GetInt64()));
        Assert.Equal(3, rest.GetProperty("acknowledged").GetInt64());
    }

    [Fact]
    public async Task TokenBudgetThresholds_AreAnnouncedOncePerPeriod_At80And100Percent()
    {
        var tenant = TestKeys.User("tenant");
        Assert.Equal(HttpStatusCode.OK, (await fixture.Admin.PutJsonAsync($"/v1/tenants/{tenant}/tokens/budget", new { budget = 1000, period = "day" })).StatusCode);
        foreach (var tokens in new[] { 500, 350, 100, 50 }) // 50 %, 85 % (80 crossed), 95 %, 100 %
        {
            var reservation = await (await Client.PostJsonAsync($"/v1/tenants/{tenant}/tokens/reserve", new { tokens = 10 })).JsonAsync();
            Assert.Equal(HttpStatusCode.OK, (await Client.PostJsonAsync($"/v1/tenants/{tenant}/tokens/commit",
                new { reservationId = reservation.GetProperty("reservationId").GetString(), actualTokens = tokens })).StatusCode);
        }

        var feed = await (await Client.GetAsync($"/v1/tenants/{tenant}/notifications", Ct)).JsonAsync();
        var thresholds = feed.GetProperty("events").EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() == "token_budget.threshold")
            .Select(e => e.GetProperty("data").GetProperty("percent").GetInt32()).ToList();

        Assert.Equal([80, 100], thresholds);
    }

    [Fact]
    public async Task BadInput_400NamingTheField()
    {
        var path = $"/v1/tenants/{TestKeys.User("tenant")}";

        await (await Client.PostJsonAsync($"{path}/events", new { type = "approval.decided", data = new { } })).AssertBadFieldAsync("type");
        await (await Client.PostJsonAsync($"{path}/events", new { type = "Bad Type", data = new { } })).AssertBadFieldAsync("type");
        await (await Client.PostJsonAsync($"{path}/events", new { type = "ok.type" })).AssertBadFieldAsync("data");
        await (await Client.GetAsync($"{path}/notifications?after=x", Ct)).AssertBadFieldAsync("after");
        await (await Client.GetAsync($"{path}/notifications?limit=501", Ct)).AssertBadFieldAsync("limit");
        await (await Client.PostJsonAsync($"{path}/notifications/ack", new { })).AssertBadFieldAsync("upTo");
    }
}
