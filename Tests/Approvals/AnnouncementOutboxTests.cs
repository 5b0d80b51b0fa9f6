using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Approvals;
using Orleans.Coordinator.Grains.Interfaces.Events;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Approvals;

/// <summary>
/// Announcements are saved with the change they report (an outbox) and relayed to the tenant's feed: when the feed
/// cannot be written, the change is still acknowledged and its event appears, once, when the feed can be written again.
/// The fault is real: a Redis ACL lets the coordinator write approval state but not the event feed's key.
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class AnnouncementOutboxTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task FeedUnwritable_TheDecisionStands_AndItsEventArrivesOnceTheFeedIsBack()
    {
        await using var redis = await RedisServer.StartAsync();
        var prefix = TestKeys.Prefix("ob");
        var cluster = await RedisClusterFixture.StartClusterAsync(redis, prefix, silos: 1);
        using var admin = await redis.ConnectAsync();
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        try
        {
            var tenant = TestKeys.User("tenant");
            var feed = cluster.Client.GetGrain<ITenantEventsGrain>(tenant);
            var approval = cluster.Client.GetGrain<IApprovalGrain>(GrainKeys.Approval(tenant, GrainKeys.NewOpaqueId()));
            await approval.CreateAsync(tenant, new ApprovalRequest("agent", "refund", "{}", null, ExpiresInMs: 600_000));
            await Wait.UntilAsync(async () => (await feed.ReadAsync(0, 10)).Events.Any(e => e.Type == "approval.requested"), TimeSpan.FromSeconds(10), "approval.requested on the feed");

            // Reads of every key; writes (scripts need both) of approval state, membership and reminders only: the feed is refused.
            await server.ExecuteAsync("ACL", "SETUSER", "default", "resetkeys", "%R~*", $"~{prefix}*/state/approval*", $"~{prefix}*/members/*", "~*reminders*");
            var decision = await approval.DecideAsync(approve: true, "alice", null);
            var duringOutage = await feed.ReadAsync(0, 10);
            await server.ExecuteAsync("ACL", "SETUSER", "default", "resetkeys", "~*");

            await Wait.UntilAsync(async () => (await feed.ReadAsync(0, 10)).Events.Any(e => e.Type == "approval.decided"), TimeSpan.FromSeconds(30),
                "approval.decided relayed from the approval's outbox once the feed can be written again");
            var decidedAgain = await approval.DecideAsync(approve: false, "bob", null); // 409 over HTTP: announces nothing
            var events = (await feed.ReadAsync(0, 10)).Events;

            Assert.True(decision.Decided);
            Assert.Equal(ApprovalStatus.Approved, decision.Record!.Status);
            Assert.DoesNotContain(duringOutage.Events, e => e.Type == "approval.decided");
            Assert.False(decidedAgain.Decided);
            Assert.Equal(["approval.requested", "approval.decided"], events.Select(e => e.Type));
        }
        finally
        {
            await server.ExecuteAsync("ACL", "SETUSER", "default", "resetkeys", "~*");
            await cluster.StopAllSilosAsync(CancellationToken.None);
            await cluster.DisposeAsync();
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task PublishOnce_AppendsAnEventOncePerSourceKey()
    {
        await using var redis = await RedisServer.StartAsync();
        var cluster = await RedisClusterFixture.StartClusterAsync(redis, TestKeys.Prefix("po"), silos: 1);
        try
        {
            var feed = cluster.Client.GetGrain<ITenantEventsGrain>(TestKeys.User("tenant"));

            var first = await feed.PublishOnceAsync("approval/x/approval.decided", "approval.decided", "{}");
            var again = await feed.PublishOnceAsync("approval/x/approval.decided", "approval.decided", "{}");
            var other = await feed.PublishOnceAsync("approval/y/approval.decided", "approval.decided", "{}");

            Assert.Equal(first.Sequence, again.Sequence);
            Assert.Equal(first.Sequence + 1, other.Sequence);
            Assert.Equal(2, (await feed.ReadAsync(0, 10)).Events.Length);
        }
        finally
        {
            await cluster.StopAllSilosAsync(CancellationToken.None);
            await cluster.DisposeAsync();
        }
    }
}
