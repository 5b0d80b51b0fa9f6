using System.Diagnostics;
using Orleans.Coordinator.Grains.Interfaces.Coordination;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Coordinator.Tests.Infrastructure;
using Orleans.Runtime;

namespace Orleans.Coordinator.Tests.Coordination;

/// <summary>Instances on the Redis cluster (heartbeat every 250 ms, dead after 3 s of silence: generous for a loaded 2-core machine).</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class InstanceClusterTests(RedisClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly InstanceHeartbeat Proxy = new("proxy", "10.0.0.1:5432", "1.0", new Dictionary<string, string> { ["zone"] = "a" });

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task DeadInstance_ReleasesEveryLeaseItHeld_AndCountsAreRightAgain()
    {
        // Arrange: instance X holds a lease for 100 users; a third of them also hold one from instance Y.
        var x = fixture.Grains.GetGrain<IInstanceGrain>($"x-{Guid.NewGuid():N}");
        var y = fixture.Grains.GetGrain<IInstanceGrain>($"y-{Guid.NewGuid():N}");
        await x.HeartbeatAsync(Proxy);
        using var keepYAlive = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var yBeats = Task.Run(async () =>
        {
            while (!keepYAlive.IsCancellationRequested)
            {
                await y.HeartbeatAsync(Proxy);
                await Task.Delay(TimeSpan.FromMilliseconds(200), keepYAlive.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }, Ct);
        var xId = x.GetPrimaryKeyString();
        var yId = y.GetPrimaryKeyString();
        var users = Enumerable.Range(0, 100).Select(i => fixture.Grains.GetGrain<IUserLeaseGrain>($"dying-{i}-{Guid.NewGuid():N}")).ToList();
        await Task.WhenAll(users.Select(async (u, i) =>
        {
            Assert.True((await u.TryAcquireLeaseAsync(new LeaseAcquireRequest(xId, 600_000))).Granted);
            if (i % 3 == 0)
            {
                Assert.True((await u.TryAcquireLeaseAsync(new LeaseAcquireRequest(yId, 600_000))).Granted);
            }
        }));

        // Act: X stops beating (its process was killed); the leases' own ttl is 10 minutes.
        var stopped = Stopwatch.StartNew();
        await Wait.UntilAsync(async () => (await x.GetAsync())?.Alive == false, TimeSpan.FromSeconds(15), "instance X to be declared dead");
        await Wait.UntilAsync(async () => (await Task.WhenAll(users.Select(u => u.GetSnapshotAsync()))).All(s => s.Leases.All(l => l.InstanceId != xId)),
            TimeSpan.FromSeconds(15), "every lease of instance X to be released");
        output.WriteLine($"X's 100 leases were released {stopped.ElapsedMilliseconds} ms after its last heartbeat (dead after 3 s).");

        // Assert: exactly X's leases went; Y's stayed.
        var yNow = await y.GetAsync();
        Assert.True(yNow!.Alive, $"Y should be alive; last seen {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - yNow.LastSeenMs} ms ago, beat loop {yBeats.Status}");
        var snapshots = await Task.WhenAll(users.Select(u => u.GetSnapshotAsync()));
        for (var i = 0; i < users.Count; i++)
        {
            Assert.Equal(i % 3 == 0 ? 1 : 0, snapshots[i].Active);
            Assert.All(snapshots[i].Leases, l => Assert.Equal(yId, l.InstanceId));
        }

        Assert.True((await y.GetAsync())!.Alive);
        await keepYAlive.CancelAsync();
        await yBeats;
    }

    [Fact(Timeout = 120_000)]
    public async Task DeadInstance_IsListedAsDead_ThenRevivesWhenItBeatsAgain()
    {
        var role = $"role-{Guid.NewGuid():N}"[..20];
        var grain = fixture.Grains.GetGrain<IInstanceGrain>($"z-{Guid.NewGuid():N}");
        await grain.HeartbeatAsync(Proxy with { Role = role });
        var registry = fixture.Grains.GetGrain<IInstanceRegistryGrain>(InstanceKeys.RegistryShard(grain.GetPrimaryKeyString()));

        await Wait.UntilAsync(async () => (await registry.ListAsync(role)).SingleOrDefault() is { Alive: false, DeadAtMs: not null },
            TimeSpan.FromSeconds(15), "the registry to list the silent instance as dead");
        await grain.HeartbeatAsync(Proxy with { Role = role });

        Assert.True((await registry.ListAsync(role)).Single().Alive);
    }

    [Fact(Timeout = 120_000)]
    public async Task DeadInstance_WithATenant_PublishesInstanceDiedOnItsFeedOnce()
    {
        var tenant = TestKeys.User("tenant");
        var grain = fixture.Grains.GetGrain<IInstanceGrain>($"t-{Guid.NewGuid():N}");
        var feed = fixture.Grains.GetGrain<Orleans.Coordinator.Grains.Interfaces.Events.ITenantEventsGrain>(tenant);
        await grain.HeartbeatAsync(Proxy with { Metadata = new Dictionary<string, string> { ["tenant"] = tenant } });

        await Wait.UntilAsync(async () => (await feed.ReadAsync(0, 10)).Events.Length > 0, TimeSpan.FromSeconds(15), "instance.died on the tenant's feed");
        await Wait.UntilAsync(async () => (await grain.GetAsync())?.Alive == false, TimeSpan.FromSeconds(15), "the instance to be listed as dead");
        var events = (await feed.ReadAsync(0, 10)).Events;

        var died = Assert.Single(events);
        Assert.Equal("instance.died", died.Type);
        using var data = System.Text.Json.JsonDocument.Parse(died.DataJson);
        Assert.Equal(grain.GetPrimaryKeyString(), data.RootElement.GetProperty("instanceId").GetString());
        Assert.Equal("proxy", data.RootElement.GetProperty("role").GetString());
        Assert.True(data.RootElement.GetProperty("deadAtMs").GetInt64() >= data.RootElement.GetProperty("lastSeenMs").GetInt64() + 3_000);
    }

    [Fact(Timeout = 120_000)]
    public async Task ThousandInstances_EachBeatsOnItsOwnGrain_NotBehindOneActivation()
    {
        // Arrange
        var ids = Enumerable.Range(0, 1000).Select(i => $"fleet-{i}-{Guid.NewGuid():N}").ToList();
        var before = await ActivationsAsync();

        // Act: three rounds of 1,000 concurrent heartbeats.
        var timer = Stopwatch.StartNew();
        for (var round = 0; round < 3; round++)
        {
            await Task.WhenAll(ids.Select(id => fixture.Grains.GetGrain<IInstanceGrain>(id).HeartbeatAsync(Proxy)));
        }

        timer.Stop();
        output.WriteLine($"3,000 heartbeats from 1,000 instances took {timer.ElapsedMilliseconds} ms.");
        var after = before;
        await Wait.UntilAsync(async () => (after = await ActivationsAsync()).Instances >= 1000, TimeSpan.FromSeconds(10),
            "the silos' statistics to show 1,000 instance activations");

        // Assert: one activation per instance carried the beats; the registry is 16 shards at most,
        // and it is written on registration only (every beat after the first touches the instance's grain alone).
        Assert.True(after.Instances >= 1000, $"expected >= 1000 instance activations, got {after.Instances}");
        Assert.InRange(after.Registry, 1, InstanceKeys.RegistryShards);
    }

    private async Task<(int Instances, int Registry)> ActivationsAsync()
    {
        var stats = await fixture.Grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics(Ct);
        // Statistics name grain classes as "Namespace.Class,Assembly", one row per silo.
        int Count(string grainClass) => stats.Where(s => s.GrainType.StartsWith($"Orleans.Coordinator.Grains.Coordination.{grainClass},", StringComparison.Ordinal)).Sum(s => s.ActivationCount);
        return (Count("InstanceGrain"), Count("InstanceRegistryGrain"));
    }
}
