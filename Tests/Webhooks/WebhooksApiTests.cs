using System.Net;
using System.Text.Json;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Webhooks;

/// <summary>Webhooks over real HTTP (embedded gateway, auth on) delivering to a real receiver on loopback.</summary>
[Collection(EmbeddedGatewayCollection.Name)]
public sealed class WebhooksApiTests(EmbeddedGatewayFixture fixture)
{
    private HttpClient Admin => fixture.Admin;

    private HttpClient Client => fixture.Client;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Register_AnswersTheSecretOnce_ListAndGetNeverShowIt()
    {
        var tenant = TestKeys.User("tenant");
        var created = await (await Admin.PostJsonAsync($"/v1/tenants/{tenant}/webhooks", new { url = "http://127.0.0.1:9/hook", events = new[] { "approval.requested", "approval.requested", "custom.thing" } })).JsonAsync();
        var id = created.GetProperty("webhookId").GetString()!;

        var listed = await (await Admin.GetAsync($"/v1/tenants/{tenant}/webhooks", Ct)).JsonAsync();
        var got = await (await Admin.GetAsync($"/v1/tenants/{tenant}/webhooks/{id}", Ct)).JsonAsync();
        var byClient = await Client.GetAsync($"/v1/tenants/{tenant}/webhooks", Ct);

        Assert.StartsWith("wh_", id, StringComparison.Ordinal);
        var secret = created.GetProperty("secret").GetString()!;
        Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);
        Assert.Equal(32, Convert.FromBase64String(secret["whsec_".Length..]).Length);
        Assert.Equal(["approval.requested", "custom.thing"], created.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(id, Assert.Single(listed.EnumerateArray()).GetProperty("webhookId").GetString());
        Assert.DoesNotContain(secret["whsec_".Length..], listed.GetRawText(), StringComparison.Ordinal);
        Assert.False(got.TryGetProperty("secret", out var shown) && shown.ValueKind != JsonValueKind.Null);
        Assert.Equal(HttpStatusCode.Forbidden, byClient.StatusCode);
    }

    [Fact]
    public async Task BadRegistrations_Answer400NamingTheField_AndPrivateDestinationsAreRefused()
    {
        var path = $"/v1/tenants/{TestKeys.User("tenant")}/webhooks";
        object[] badUrls =
        [
            new { events = new[] { "*" } },
            new { url = "ftp://127.0.0.1/hook", events = new[] { "*" } },
            new { url = "not a url", events = new[] { "*" } },
            new { url = "http://user:pass@127.0.0.1/hook", events = new[] { "*" } },
            new { url = "http://10.0.0.7/hook", events = new[] { "*" } },         // private (RFC 1918), not listed
            new { url = "http://169.254.169.254/latest", events = new[] { "*" } }, // link-local: cloud metadata
            new { url = "http://[::1]:8080/hook", events = new[] { "*" } },        // loopback by another name than the listed one
            new { url = "http://localhost:8080/hook", events = new[] { "*" } },
            new { url = "http://192.168.0.1/" + new string('a', 2100), events = new[] { "*" } },
        ];
        foreach (var body in badUrls)
        {
            await (await Admin.PostJsonAsync(path, body)).AssertBadFieldAsync("url");
        }

        await (await Admin.PostJsonAsync(path, new { url = "http://127.0.0.1:9/hook" })).AssertBadFieldAsync("events");
        await (await Admin.PostJsonAsync(path, new { url = "http://127.0.0.1:9/hook", events = Array.Empty<string>() })).AssertBadFieldAsync("events");
        await (await Admin.PostJsonAsync(path, new { url = "http://127.0.0.1:9/hook", events = new[] { "Not A Type" } })).AssertBadFieldAsync("events");
        await (await Admin.GetAsync($"{path}/wh_missing", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "webhook-not-found");
        await (await Admin.DeleteAsync($"{path}/wh_missing", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "webhook-not-found");
        await (await Admin.GetAsync($"{path}/wh_missing/deliveries", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "webhook-not-found");
        await (await Admin.GetAsync($"{path}/wh_missing/deliveries?status=maybe", Ct)).AssertBadFieldAsync("status");
        await (await Admin.PostJsonAsync($"{path}/wh_missing/deliveries/evt_1/redeliver", new { })).AssertProblemAsync(HttpStatusCode.NotFound, "webhook-delivery-not-found");
    }

    [Fact]
    public async Task Delivery_RetriesAReceiverThatFailsFirst_ThenItVerifiesTheSignature()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = n => n <= 2 ? 503 : 200; // the first two attempts fail
        var tenant = TestKeys.User("tenant");
        var created = await (await Admin.PostJsonAsync($"/v1/tenants/{tenant}/webhooks", new { url = receiver.Url.ToString(), events = new[] { "order.paid" } })).JsonAsync();
        receiver.Secret = created.GetProperty("secret").GetString();
        var id = created.GetProperty("webhookId").GetString()!;

        await Client.PostJsonAsync($"/v1/tenants/{tenant}/events", new { type = "other.thing", data = new { skip = true } });
        var published = await (await Client.PostJsonAsync($"/v1/tenants/{tenant}/events", new { type = "order.paid", data = new { order = 42 } })).JsonAsync();

        JsonElement deliveries = default;
        await Wait.UntilAsync(async () =>
        {
            deliveries = await (await Admin.GetAsync($"/v1/tenants/{tenant}/webhooks/{id}/deliveries?status=delivered", Ct)).JsonAsync();
            return deliveries.GetProperty("deliveries").GetArrayLength() == 1; // recorded after the receiver answered 200
        }, TimeSpan.FromSeconds(20), "the third attempt (answered 200) to be recorded as delivered");

        var requests = receiver.Requests.ToArray();
        Assert.Equal([503, 503, 200], requests.Select(r => r.AnsweredStatus));
        Assert.All(requests, r => Assert.Null(r.VerifyError)); // every attempt verifies with the StandardWebhooks library
        Assert.All(requests, r => Assert.Equal(published.GetProperty("eventId").GetString(), r.MessageId)); // same webhook-id each time
        using var body = JsonDocument.Parse(requests[^1].Body);
        Assert.Equal("order.paid", body.RootElement.GetProperty("type").GetString());
        Assert.Equal(42, body.RootElement.GetProperty("data").GetProperty("order").GetInt32());
        Assert.True(DateTimeOffset.TryParse(body.RootElement.GetProperty("timestamp").GetString(), out _));
        var all = await (await Admin.GetAsync($"/v1/tenants/{tenant}/webhooks/{id}/deliveries", Ct)).JsonAsync();
        var delivery = Assert.Single(all.GetProperty("deliveries").EnumerateArray()); // other.thing was not for this webhook
        Assert.Equal("delivered", delivery.GetProperty("status").GetString());
        Assert.Equal([503, 503, 200], delivery.GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("statusCode").GetInt32()));
        var times = delivery.GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("atMs").GetInt64()).ToArray();
        Assert.True(times[1] - times[0] >= 100 && times[2] - times[1] >= 200, $"backoff between attempts: {string.Join(", ", times)}"); // 100-200 ms, then 200-400 ms
    }

    [Fact]
    public async Task LastAttemptFailing_DeadLetters_AndRedeliverSendsItAgain()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = _ => 500;
        var tenant = TestKeys.User("tenant");
        var created = await (await Admin.PostJsonAsync($"/v1/tenants/{tenant}/webhooks", new { url = receiver.Url.ToString(), events = new[] { "*" } })).JsonAsync();
        receiver.Secret = created.GetProperty("secret").GetString();
        var deliveriesPath = $"/v1/tenants/{tenant}/webhooks/{created.GetProperty("webhookId").GetString()}/deliveries";
        await Client.PostJsonAsync($"/v1/tenants/{tenant}/events", new { type = "report.ready", data = new { id = "r1" } });

        JsonElement dead = default;
        await Wait.UntilAsync(async () =>
        {
            var page = await (await Admin.GetAsync($"{deliveriesPath}?status=dead_letter", Ct)).JsonAsync();
            var found = page.GetProperty("deliveries").EnumerateArray().ToList();
            dead = found.FirstOrDefault();
            return found.Count == 1;
        }, TimeSpan.FromSeconds(20), "the delivery to be dead-lettered after Webhooks:MaxAttempts (3) failures");
        receiver.Answer = _ => 204;
        var redeliver = await Admin.PostJsonAsync($"{deliveriesPath}/{dead.GetProperty("deliveryId").GetString()}/redeliver", new { });
        JsonElement delivered = default;
        await Wait.UntilAsync(async () =>
        {
            delivered = await (await Admin.GetAsync($"{deliveriesPath}?status=delivered", Ct)).JsonAsync();
            return delivered.GetProperty("deliveries").GetArrayLength() == 1; // recorded after the receiver answered
        }, TimeSpan.FromSeconds(20), "the redelivered message to be recorded as delivered");

        Assert.Equal(3, dead.GetProperty("attempts").GetArrayLength());
        Assert.Equal(HttpStatusCode.Accepted, redeliver.StatusCode);
        Assert.Equal(4, receiver.Requests.Count);
        Assert.Single(receiver.Requests.Select(r => r.MessageId).Distinct());
        Assert.All(receiver.Requests, r => Assert.Null(r.VerifyError));
        var again = Assert.Single(delivered.GetProperty("deliveries").EnumerateArray());
        Assert.Equal([500, 500, 500, 204], again.GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("statusCode").GetInt32()));
    }

    [Fact]
    public async Task Delete_AnswersAtOnce_WhileASendIsInFlight()
    {
        // The receiver holds the first request open: the webhook's send is in flight when the admin deletes it.
        await using var receiver = await WebhookReceiver.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        receiver.Hold = _ => release.Task;
        var tenant = TestKeys.User("tenant");
        var created = await (await Admin.PostJsonAsync($"/v1/tenants/{tenant}/webhooks", new { url = receiver.Url.ToString(), events = new[] { "*" } })).JsonAsync();
        var path = $"/v1/tenants/{tenant}/webhooks/{created.GetProperty("webhookId").GetString()}";
        await Client.PostJsonAsync($"/v1/tenants/{tenant}/events", new { type = "slow.one", data = new { } });
        await Wait.UntilAsync(() => receiver.InFlight == 1, TimeSpan.FromSeconds(20), "the receiver to hold the first delivery open");

        var deleted = await Admin.DeleteAsync(path, Ct);
        var stillHeld = receiver.InFlight == 1;
        release.SetResult();
        var afterDelete = await Admin.GetAsync(path, Ct);
        var again = await Admin.DeleteAsync(path, Ct);

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.True(stillHeld, "the deletion answered while the send was still in flight");
        Assert.Equal(HttpStatusCode.NotFound, afterDelete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }

    [Fact]
    public async Task CoordinatorEvents_AndDeletion_ReachOnlyLiveWebhooks()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var tenant = TestKeys.User("tenant");
        var created = await (await Admin.PostJsonAsync($"/v1/tenants/{tenant}/webhooks", new { url = receiver.Url.ToString(), events = new[] { "approval.requested" } })).JsonAsync();
        receiver.Secret = created.GetProperty("secret").GetString();
        var path = $"/v1/tenants/{tenant}/webhooks/{created.GetProperty("webhookId").GetString()}";

        var approval = await (await Client.PostJsonAsync($"/v1/tenants/{tenant}/approvals", new { agent = "bot", action = "refund", payload = new { amount = 5 }, expiresInMs = 60_000 })).JsonAsync();
        await Wait.UntilAsync(() => !receiver.Requests.IsEmpty, TimeSpan.FromSeconds(20), "approval.requested to reach the receiver");
        var deleted = await Admin.DeleteAsync(path, Ct);
        await Client.PostJsonAsync($"/v1/tenants/{tenant}/approvals", new { agent = "bot", action = "refund", payload = new { amount = 6 }, expiresInMs = 60_000 });
        var afterDelete = await Admin.GetAsync(path, Ct);
        var listed = await (await Admin.GetAsync($"/v1/tenants/{tenant}/webhooks", Ct)).JsonAsync();

        var first = Assert.Single(receiver.Requests);
        Assert.Null(first.VerifyError);
        using var body = JsonDocument.Parse(first.Body);
        Assert.Equal("approval.requested", body.RootElement.GetProperty("type").GetString());
        Assert.Contains(approval.GetProperty("approvalId").GetString()!, first.Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, afterDelete.StatusCode);
        Assert.Equal(0, listed.GetArrayLength());
    }
}
