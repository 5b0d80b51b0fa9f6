using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Coordinator.Tests.Infrastructure;
using Orleans.Core.Internal;

namespace Orleans.Coordinator.Tests.Grains;

[Collection(InMemoryClusterCollection.Name)]
public sealed class UserLeaseGrainTests(InMemoryClusterFixture fixture)
{
    private IUserLeaseGrain NewUser() => fixture.Grains.GetGrain<IUserLeaseGrain>(TestKeys.User());

    [Fact]
    public async Task TryAcquireLease_AtConnectionLimit_ReturnsDenied()
    {
        // Arrange: the fixture's default limit is 3.
        var user = NewUser();
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("proxy-1"))).Granted);
        }

        // Act
        var denied = await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("proxy-1"));

        // Assert
        Assert.False(denied.Granted);
        Assert.Null(denied.LeaseId);
        Assert.Equal(3, denied.Active);
        Assert.Equal(3, denied.Limit);
    }

    [Fact]
    public async Task TryAcquireLease_WithTheCallersLeaseId_IsIdempotent()
    {
        var user = NewUser();
        var id = GrainKeys.NewOpaqueId();

        var first = await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("p", LeaseId: id));
        var retry = await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("p", LeaseId: id));

        Assert.True(first.Granted);
        Assert.Equal(id, first.LeaseId);
        Assert.True(retry.Granted);
        Assert.Equal(id, retry.LeaseId);
        Assert.Equal(first.ExpiresAtMs, retry.ExpiresAtMs);
        Assert.Equal(1, (await user.GetSnapshotAsync()).Active);
    }

    [Fact]
    public async Task TryAcquireLease_ReleasedBeforeItArrived_IsRefused_SoNoSlotIsOrphaned()
    {
        // A gateway that gave up on an acquire releases its lease id; the acquire, arriving late, must not grant.
        var user = NewUser();
        var id = GrainKeys.NewOpaqueId();

        Assert.False(await user.ReleaseLeaseAsync(id));
        var late = await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("p", LeaseId: id));

        Assert.False(late.Granted);
        Assert.Equal(0, (await user.GetSnapshotAsync()).Active);
    }

    [Theory]
    [InlineData("fb-0123456789abcdef")]
    [InlineData("has space")]
    public async Task TryAcquireLease_WithAnUnusableLeaseId_IsRefusedNamingTheField(string id)
    {
        var ex = await Assert.ThrowsAsync<CoordinatorValidationException>(() => NewUser().TryAcquireLeaseAsync(new LeaseAcquireRequest("p", LeaseId: id)));

        Assert.Equal("leaseId", ex.Field);
    }

    [Fact]
    public async Task ReleaseLease_FreesSlot_AndSecondReleaseIsHarmless()
    {
        var user = NewUser();
        var leases = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            leases.Add((await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("p"))).LeaseId!);
        }

        Assert.True(await user.ReleaseLeaseAsync(leases[0]));
        Assert.False(await user.ReleaseLeaseAsync(leases[0]));

        var again = await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("p"));
        Assert.True(again.Granted);
        Assert.Equal(3, (await user.GetSnapshotAsync()).Active);
    }

    [Fact]
    public async Task Lease_NotRenewedWithinTtl_ExpiresAndFreesItsSlot()
    {
        // Arrange
        var user = NewUser();
        await user.SetConnectionLimitAsync(1);
        var lease = await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("crashed-proxy", TtlMs: 5_000));
        Assert.True(lease.Granted);
        Assert.False((await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("other"))).Granted);

        // Act: the proxy crashed and never renews.
        InMemoryClusterFixture.Time.Advance(TimeSpan.FromMilliseconds(5_000));

        // Assert
        Assert.Equal(0, (await user.GetSnapshotAsync()).Active);
        Assert.False((await user.RenewLeaseAsync(lease.LeaseId!)).Found);
        Assert.True((await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("other"))).Granted);
    }

    [Fact]
    public async Task RenewLease_BeforeExpiry_ExtendsFromNow()
    {
        var user = NewUser();
        var lease = await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("p", TtlMs: 10_000));
        InMemoryClusterFixture.Time.Advance(TimeSpan.FromSeconds(8));

        var renewed = await user.RenewLeaseAsync(lease.LeaseId!);

        Assert.True(renewed.Found);
        Assert.Equal(InMemoryClusterFixture.Time.GetUtcNow().ToUnixTimeMilliseconds() + 10_000, renewed.ExpiresAtMs);
        InMemoryClusterFixture.Time.Advance(TimeSpan.FromSeconds(8));
        Assert.Equal(1, (await user.GetSnapshotAsync()).Active);
    }

    [Fact]
    public async Task SetConnectionLimit_Override_ThenNullRestoresDefault()
    {
        var user = NewUser();

        await user.SetConnectionLimitAsync(7);
        Assert.Equal(7, (await user.GetSnapshotAsync()).Limit);

        await user.SetConnectionLimitAsync(null);
        Assert.Equal(3, (await user.GetSnapshotAsync()).Limit);
    }

    [Fact]
    public async Task Leases_AfterDeactivation_AreReadBackFromStorage()
    {
        // Arrange
        var user = NewUser();
        var kept = await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("p"));
        var released = await user.TryAcquireLeaseAsync(new LeaseAcquireRequest("p"));
        await user.ReleaseLeaseAsync(released.LeaseId!);

        // Act
        await user.Cast<IGrainManagementExtension>().DeactivateOnIdle(TestContext.Current.CancellationToken);
        var snapshot = await user.GetSnapshotAsync();

        // Assert
        Assert.Equal([kept.LeaseId], snapshot.Leases.Select(l => l.LeaseId));
    }

    [Theory]
    [InlineData("", 60_000L, "instanceId")]
    [InlineData("bad id", 60_000L, "instanceId")]
    [InlineData("p", 999L, "ttlMs")]
    [InlineData("p", 86_400_001L, "ttlMs")]
    public async Task TryAcquireLease_BadInput_ThrowsValidationNamingField(string instanceId, long ttl, string field)
    {
        var ex = await Assert.ThrowsAsync<CoordinatorValidationException>(
            () => NewUser().TryAcquireLeaseAsync(new LeaseAcquireRequest(instanceId, ttl)));
        Assert.Equal(field, ex.Field);
    }
}
