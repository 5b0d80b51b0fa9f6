using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Coordinator.Tests.Infrastructure;
using Orleans.Core.Internal;

namespace Orleans.Coordinator.Tests.Grains;

[Collection(InMemoryClusterCollection.Name)]
public sealed class UserByteBudgetGrainTests(InMemoryClusterFixture fixture)
{
    private IUserByteBudgetGrain NewUser() => fixture.Grains.GetGrain<IUserByteBudgetGrain>(TestKeys.User());

    [Fact]
    public async Task ConsumeBytes_UntilBudgetSpent_ThenDeniesWithoutCharging()
    {
        // Arrange: the fixture's default budget is 1000 bytes per minute.
        var user = NewUser();

        // Act
        var first = await user.ConsumeBytesAsync(600);
        var second = await user.ConsumeBytesAsync(400);
        var third = await user.ConsumeBytesAsync(1);

        // Assert
        Assert.True(first.Allowed);
        Assert.Equal(400, first.Remaining);
        Assert.True(second.Allowed);
        Assert.Equal(0, second.Remaining);
        Assert.False(third.Allowed);
        Assert.Equal(1000, third.Used);
    }

    [Fact]
    public async Task ConsumeBytes_AfterWindow_BudgetResets()
    {
        var user = NewUser();
        var spent = await user.ConsumeBytesAsync(1000);

        InMemoryClusterFixture.Time.Advance(TimeSpan.FromMinutes(1));
        var fresh = await user.ConsumeBytesAsync(10);

        Assert.True(fresh.Allowed);
        Assert.Equal(10, fresh.Used);
        Assert.True(fresh.ResetAtMs > spent.ResetAtMs);
    }

    [Fact]
    public async Task SetBudget_Override_AppliesAndSurvivesDeactivation()
    {
        var user = NewUser();
        await user.SetBudgetAsync(50, 3_600_000);
        await user.ConsumeBytesAsync(20);

        await user.Cast<IGrainManagementExtension>().DeactivateOnIdle(TestContext.Current.CancellationToken);
        var snapshot = await user.GetSnapshotAsync();

        Assert.Equal(50, snapshot.Budget);
        Assert.Equal(3_600_000, snapshot.BudgetWindowMs);
        Assert.Equal(20, snapshot.Used);
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData((1L << 40) + 1)]
    public async Task ConsumeBytes_NegativeOrAbsurd_IsRefused(long bytes)
    {
        var ex = await Assert.ThrowsAsync<CoordinatorValidationException>(() => NewUser().ConsumeBytesAsync(bytes));
        Assert.Equal("bytes", ex.Field);
    }
}
