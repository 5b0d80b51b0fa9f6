using System.Globalization;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Events;
using Orleans.Coordinator.Grains.Interfaces.Webhooks;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Webhooks;

/// <summary>
/// A webhook whose silo is killed between two attempts: its durable reminder (in Redis) wakes it on the other silo,
/// which finds the pending delivery in storage and sends it again, signed, with the same webhook-id.
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class WebhookAcrossSiloKillTests(ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 180_000)]
    public async Task SiloKilledBetweenAttempts_TheDeliveryResumesOnTheOtherSilo()
    {
        await using var redis = await RedisServer.StartAsync();
        var cluster = await RedisClusterFixture.StartClusterAsync(redis, TestKeys.Prefix("wh"), silos: 2);
        try
        {
            await using var receiver = await WebhookReceiver.StartAsync();
            receiver.Answer = n => n == 1 ? 503 : 200;
            var tenant = TestKeys.User("tenant");
            var created = await cluster.Client.GetGrain<ITenantWebhooksGrain>(tenant).RegisterAsync(receiver.Url.ToString(), ["deploy.done"]);
            receiver.Secret = created.Secret;
            var webhook = cluster.Client.GetGrain<IWebhookGrain>(GrainKeys.Webhook(tenant, created.Webhook.WebhookId));

            await cluster.Client.GetGrain<ITenantEventsGrain>(tenant).PublishAsync("deploy.done", """{"build":7}""");
            await Wait.UntilAsync(async () => (await webhook.GetDeliveriesAsync(null))?.SingleOrDefault()?.Attempts.Length == 1,
                TimeSpan.FromSeconds(30), "the first attempt (answered 503) to be recorded in the webhook's state");

            // Kill the silo that holds the webhook before its second attempt (due 1.5-3 s after the first).
            var address = await cluster.Client.GetGrain<IManagementGrain>(0).GetActivationAddress(webhook, Ct);
            var host = cluster.Silos.Single(s => s.SiloAddress.Equals(address));
            Assert.Single(receiver.Requests);
            var killedAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            await cluster.KillSiloAsync(host, Ct);

            await Wait.UntilAsync(() => receiver.Requests.Any(r => r.AnsweredStatus == 200), TimeSpan.FromSeconds(90),
                "the second attempt, sent by the webhook woken by its reminder on the surviving silo");
            WebhookDelivery[]? deliveries = null;
            await Wait.UntilAsync(async () =>
            {
                try
                {
                    deliveries = await webhook.GetDeliveriesAsync(null);
                    return deliveries?.SingleOrDefault()?.Status == WebhookDeliveryStatus.Delivered;
                }
                catch (Exception ex) when (ex is OrleansException or TimeoutException)
                {
                    return false; // the directory may still name the killed silo for a moment
                }
            }, TimeSpan.FromSeconds(30), "the delivery to be recorded as delivered");

            var delivery = Assert.Single(deliveries!);
            Assert.Equal([503, 200], delivery.Attempts.Select(a => a.StatusCode));
            Assert.True(delivery.Attempts[1].AtMs >= killedAtMs, "the second attempt came after the kill");
            Assert.Equal(2, receiver.Requests.Count);
            Assert.All(receiver.Requests, r => Assert.Null(r.VerifyError));
            Assert.Single(receiver.Requests.Select(r => r.MessageId).Distinct());
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"second attempt {delivery.Attempts[1].AtMs - killedAtMs} ms after the kill"));
        }
        finally
        {
            await cluster.StopAllSilosAsync(CancellationToken.None);
            await cluster.DisposeAsync();
        }
    }
}
