using System.Diagnostics;
using System.Globalization;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Approvals;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Approvals;

/// <summary>
/// An approval whose expiry falls while its only silo is down: the reminder (in Redis) fires on the silo that starts
/// afterwards and writes <c>expired</c> to the stored state, with no caller touching the approval.
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class ApprovalExpiryAcrossRestartTests(ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 180_000)]
    public async Task ApprovalExpiringWhileItsSiloIsDown_IsExpiredByTheReminderAfterARestart()
    {
        await using var redis = await RedisServer.StartAsync();
        var prefix = TestKeys.Prefix("ap");
        var cluster = await RedisClusterFixture.StartClusterAsync(redis, prefix, silos: 1);
        try
        {
            var tenant = TestKeys.User("tenant");
            var id = GrainKeys.NewOpaqueId();
            var approval = cluster.Client.GetGrain<IApprovalGrain>(GrainKeys.Approval(tenant, id));
            var record = await approval.CreateAsync(tenant, new ApprovalRequest("agent", "deploy.prod", "{}", null, ExpiresInMs: 4_000));
            Assert.Equal(ApprovalStatus.Pending, record.Status);

            // The only silo dies before the expiry; a new one starts after it.
            await cluster.KillSiloAsync(cluster.Silos.Single(), Ct);
            var dueIn = record.ExpiresAtMs - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            Assert.True(dueIn > 0, "the silo was killed before the approval's expiry");
            await Task.Delay(TimeSpan.FromMilliseconds(dueIn + 500), Ct); // the expiry passes while no silo runs (not synchronisation: the scenario)
            await cluster.StartAdditionalSiloAsync();
            var restarted = Stopwatch.StartNew();

            // Nobody calls the approval: only its reminder can write the expiry.
            using var connection = await redis.ConnectAsync();
            var db = connection.GetDatabase();
            await Wait.UntilAsync(async () =>
            {
                foreach (var key in await redis.KeysAsync($"{prefix}*state/approval/*"))
                {
                    var data = (string?)await db.HashGetAsync(key, "data");
                    if (data is not null && data.Contains(id, StringComparison.Ordinal) && data.Contains("\"status\":\"Expired\"", StringComparison.Ordinal))
                    {
                        return true;
                    }
                }

                return false;
            }, TimeSpan.FromSeconds(60), "the approval's stored state to say Expired, written by its reminder on the new silo");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"expired by its reminder {restarted.ElapsedMilliseconds} ms after the new silo started"));

            var after = await approval.DecideAsync(approve: true, "late-reviewer", null);
            Assert.False(after.Decided);
            Assert.Equal(ApprovalStatus.Expired, after.Record!.Status);
        }
        finally
        {
            await cluster.StopAllSilosAsync(CancellationToken.None);
            await cluster.DisposeAsync();
        }
    }
}
