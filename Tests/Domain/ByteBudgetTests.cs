using Orleans.Coordinator.Grains.Domain;

namespace Orleans.Coordinator.Tests.Domain;

public sealed class ByteBudgetTests
{
    private const long T0 = 1_767_225_600_000;
    private const long Window = 60_000;

    [Theory]
    [InlineData(0, 100, 100, true, 100)]
    [InlineData(40, 60, 100, true, 100)]
    [InlineData(40, 61, 100, false, 40)]
    [InlineData(100, 0, 100, true, 100)]
    [InlineData(100, 1, 100, false, 100)]
    [InlineData(0, 101, 100, false, 0)]
    public void TryConsume_InWindow_ChargesAllOrNothing(long used, long bytes, long budget, bool allowed, long usedAfter)
    {
        var window = new ByteBudgetWindow(T0, used);

        var (next, decision) = ByteBudget.TryConsume(window, T0 + 10, bytes, budget, Window);

        Assert.Equal(allowed, decision.Allowed);
        Assert.Equal(usedAfter, next.Used);
        Assert.Equal(usedAfter, decision.Used);
        Assert.Equal(Math.Max(0, budget - usedAfter), decision.Remaining);
        Assert.Equal(T0 + Window, decision.ResetAtMs);
    }

    [Fact]
    public void TryConsume_AfterWindowEnds_StartsFreshWindowAtNow()
    {
        var window = new ByteBudgetWindow(T0, 100);

        var (next, decision) = ByteBudget.TryConsume(window, T0 + Window + 5, 30, 100, Window);

        Assert.True(decision.Allowed);
        Assert.Equal(new ByteBudgetWindow(T0 + Window + 5, 30), next);
        Assert.Equal(T0 + Window + 5 + Window, decision.ResetAtMs);
    }

    [Fact]
    public void TryConsume_FirstCharge_OpensWindow()
    {
        var (next, decision) = ByteBudget.TryConsume(default, T0, 10, 100, Window);

        Assert.Equal(new ByteBudgetWindow(T0, 10), next);
        Assert.Equal(90, decision.Remaining);
    }

    [Fact]
    public void TryConsume_ClockGoesBackwards_KeepsCurrentWindow()
    {
        var window = new ByteBudgetWindow(T0, 100);

        var (next, decision) = ByteBudget.TryConsume(window, T0 - 30_000, 1, 100, Window);

        Assert.False(decision.Allowed);
        Assert.Equal(window, next);
    }

    [Fact]
    public void TryConsume_BudgetLoweredBelowUsage_RemainingIsZeroNotNegative()
    {
        var (_, decision) = ByteBudget.TryConsume(new ByteBudgetWindow(T0, 500), T0 + 1, 1, 100, Window);

        Assert.False(decision.Allowed);
        Assert.Equal(0, decision.Remaining);
    }

    [Fact]
    public void Peek_NeverCharges()
    {
        var window = new ByteBudgetWindow(T0, 30);

        var peek = ByteBudget.Peek(window, T0 + 1, 100, Window);

        Assert.Equal(30, peek.Used);
        Assert.Equal(70, peek.Remaining);
    }
}
