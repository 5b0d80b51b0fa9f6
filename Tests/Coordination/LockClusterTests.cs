using System.Collections.Concurrent;
using Orleans.Coordinator.Grains.Interfaces.Coordination;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Coordination;

/// <summary>Locks on the two-silo Redis cluster: fencing tokens, waiting order, paused holders, provisioning.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class LockClusterTests(RedisClusterFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IDistributedLockGrain Lock(string hint) => fixture.Grains.GetGrain<IDistributedLockGrain>($"{hint}:{Guid.NewGuid():N}");

    [Fact(Timeout = 120_000)]
    public async Task FencingTokens_StrictlyIncrease_AcrossReleaseExpiryAndSiloKill()
    {
        var grain = Lock("mono");
        var tokens = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            var grant = await grain.AcquireAsync("p", 30_000, 0);
            tokens.Add(grant.FencingToken);
            Assert.True((await grain.ReleaseAsync("p", grant.FencingToken)).Succeeded);
        }

        // Expiry: a short grant lapses and the next acquirer (waiting for it) gets a newer token.
        var short1 = await grain.AcquireAsync("short", 200, 0);
        var afterExpiry = await grain.AcquireAsync("next", 30_000, 5_000);
        tokens.AddRange([short1.FencingToken, afterExpiry.FencingToken]);

        // kill -9 of the silo holding the lock, then reactivation elsewhere from Redis.
        await fixture.Cluster.KillSiloAsync(await fixture.SiloHostingAsync(grain), Ct);
        LockValidation? seen = null;
        await Wait.UntilAsync(async () => (seen = await grain.ValidateAsync(afterExpiry.FencingToken)) is not null, TimeSpan.FromSeconds(30),
            "the lock grain to answer after its silo was killed");
        Assert.True(seen!.Newest);
        Assert.True(seen.Held);
        await grain.ReleaseAsync("next", afterExpiry.FencingToken);
        tokens.Add((await grain.AcquireAsync("after-kill", 30_000, 0)).FencingToken);
        await fixture.Cluster.StartAdditionalSiloAsync();

        Assert.Equal(tokens.Order(), tokens);
        Assert.Equal(tokens.Count, tokens.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, tokens.Count).Select(i => (long)i), tokens);
    }

    [Fact(Timeout = 120_000)]
    public async Task Waiters_AreServedFirstComeFirstServed()
    {
        var grain = Lock("fifo");
        var holder = await grain.AcquireAsync("holder", 30_000, 0);
        var waits = new List<Task<LockAcquireResult>>();
        foreach (var name in new[] { "b", "c", "d" })
        {
            waits.Add(grain.AcquireAsync(name, 30_000, 20_000));
            // Calls may travel through different gateways: wait until this waiter is queued before the next arrives.
            var queued = waits.Count;
            await Wait.UntilAsync(async () => (await grain.ValidateAsync(0)).Waiting == queued, TimeSpan.FromSeconds(10),
                $"waiter '{name}' to be queued on the lock");
        }

        await grain.ReleaseAsync("holder", holder.FencingToken);
        var b = await waits[0];
        Assert.False(waits[1].IsCompleted);
        await grain.ReleaseAsync("b", b.FencingToken);
        var c = await waits[1];
        await grain.ReleaseAsync("c", c.FencingToken);
        var d = await waits[2];

        Assert.Equal(("b", "c", "d"), (b.Holder, c.Holder, d.Holder));
        Assert.Equal((2L, 3L, 4L), (b.FencingToken, c.FencingToken, d.FencingToken));
    }

    [Fact(Timeout = 120_000)]
    public async Task Wait_LongerThanTheResponseTimeout_StillGetsTheLock()
    {
        // The cluster's response timeout is 5 s here; the holder keeps the lock for 6 s.
        var grain = Lock("long-wait");
        await grain.AcquireAsync("holder", 6_000, 0);
        var waited = System.Diagnostics.Stopwatch.StartNew();

        var grant = await grain.AcquireAsync("patient", 30_000, 20_000);

        Assert.True(grant.Granted);
        Assert.True(waited.Elapsed > TimeSpan.FromSeconds(5), $"the wait took {waited.ElapsedMilliseconds} ms");
    }

    [Fact(Timeout = 120_000)]
    public async Task Wait_EndsWithoutTheLock_WhenTheHolderKeepsIt()
    {
        var grain = Lock("timeout");
        await grain.AcquireAsync("holder", 30_000, 0);

        var denied = await grain.AcquireAsync("impatient", 30_000, 300);

        Assert.False(denied.Granted);
        Assert.Equal("holder", denied.Holder);
    }

    [Fact(Timeout = 120_000)]
    public async Task PausedHolder_WakingAfterItsTtl_IsRefusedByTheResource()
    {
        // Arrange: A holds with a short ttl and "pauses" (makes no call); B waits for the lock.
        var grain = Lock("paused");
        var store = new FencedStore();
        var a = await grain.AcquireAsync("A", 300, 0);
        var b = await grain.AcquireAsync("B", 30_000, 10_000);
        Assert.True(b.Granted);
        Assert.True(store.TryWrite("alice", b.FencingToken, "B"));

        // Act: A wakes up and writes with its old token.
        var aWrite = store.TryWrite("alice", a.FencingToken, "A");
        var aRenew = await grain.RenewAsync("A", a.FencingToken, 30_000);
        var aValid = await grain.ValidateAsync(a.FencingToken);

        // Assert
        Assert.False(aWrite);
        Assert.False(aRenew.Succeeded);
        Assert.False(aValid.Newest);
        Assert.Equal("B", store.Owner("alice"));
    }

    [Fact(Timeout = 240_000)]
    public async Task ProvisioningPattern_TwoConcurrentProvisioners_CreateEachUserExactlyOnce()
    {
        // Arrange: 200 backend users; every 25th run provisioner 1 checks, then is paused past its ttl before it creates.
        const int users = 200;
        var store = new FencedStore();
        var names = Enumerable.Range(0, users).Select(i => $"user-{i}-{Guid.NewGuid():N}").ToList();

        async Task ProvisionAsync(string provisioner, string user, bool pauseAfterAcquire)
        {
            var grain = fixture.Grains.GetGrain<IDistributedLockGrain>($"provision:{user}");
            var grant = await grain.AcquireAsync(provisioner, pauseAfterAcquire ? 200 : 10_000, 20_000);
            Assert.True(grant.Granted, $"{provisioner} got no lock for {user}");
            var exists = store.Exists(user);
            if (pauseAfterAcquire)
            {
                // Checked, then paused (GC, VM freeze...) until the lock was taken over and the new holder created the user.
                await Wait.UntilAsync(async () => !(await grain.ValidateAsync(grant.FencingToken)).Newest && store.Exists(user), TimeSpan.FromSeconds(20),
                    $"the other provisioner to take over provision:{user} and create it");
            }

            if (!exists)
            {
                // The write carries the token; the resource refuses it when a newer holder already wrote.
                store.TryWrite(user, grant.FencingToken, provisioner);
            }

            await grain.ReleaseAsync(provisioner, grant.FencingToken);
        }

        // Act
        await Task.WhenAll(names.Select((user, i) => Task.WhenAll(
            ProvisionAsync("p1", user, pauseAfterAcquire: i % 25 == 0),
            Task.Run(async () =>
            {
                if (i % 25 == 0)
                {
                    await Wait.UntilAsync(async () => (await fixture.Grains.GetGrain<IDistributedLockGrain>($"provision:{user}").ValidateAsync(1)).Newest,
                        TimeSpan.FromSeconds(20), $"p1 to hold provision:{user} first");
                }

                await ProvisionAsync("p2", user, pauseAfterAcquire: false);
            }, Ct))));

        // Assert: every user created exactly once; paused holders' late writes were refused.
        Assert.All(names, user => Assert.Equal(1, store.Creations(user)));
        Assert.Equal(users / 25, store.RefusedWrites);
    }

    /// <summary>A resource that keeps the newest fencing token it saw per item and refuses older ones.</summary>
    private sealed class FencedStore
    {
        private readonly ConcurrentDictionary<string, (long Token, string Owner, int Creations)> _items = new();
        private int _refused;

        public int RefusedWrites => _refused;

        public bool Exists(string item) => _items.ContainsKey(item);

        public string? Owner(string item) => _items.TryGetValue(item, out var v) ? v.Owner : null;

        public int Creations(string item) => _items.TryGetValue(item, out var v) ? v.Creations : 0;

        public bool TryWrite(string item, long token, string owner)
        {
            while (true)
            {
                if (!_items.TryGetValue(item, out var current))
                {
                    if (_items.TryAdd(item, (token, owner, 1)))
                    {
                        return true;
                    }

                    continue;
                }

                if (token < current.Token)
                {
                    Interlocked.Increment(ref _refused);
                    return false;
                }

                if (_items.TryUpdate(item, (token, owner, current.Creations + 1), current))
                {
                    return true;
                }
            }
        }
    }
}
