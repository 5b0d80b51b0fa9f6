using Orleans.Coordinator.Grains.Domain;

namespace Orleans.Coordinator.Tests.Domain;

public sealed class TokenBudgetBookTests
{
    private static readonly long T0 = new DateTimeOffset(2026, 3, 15, 10, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();

    private static TokenBudgetBook NewBook(long budget = 1000, TokenBudgetPeriodKind period = TokenBudgetPeriodKind.Day)
    {
        var book = new TokenBudgetBook(0, period, 0, 0);
        book.Configure(budget, period, T0);
        return book;
    }

    [Fact]
    public void Reserve_ThenCommitLess_ReturnsTheRest()
    {
        var book = NewBook();

        var reserved = book.Reserve(T0, "r1", 600, T0 + 60_000);
        var denied = book.Reserve(T0, "r2", 500, T0 + 60_000);
        var commit = book.Commit(T0 + 1000, "r1", 250);

        Assert.Equal((true, 400L), (reserved.Granted, reserved.Remaining));
        Assert.False(denied.Granted);
        Assert.Equal((true, 350L, 250L, 750L), (commit.Found, commit.Returned, commit.Used, commit.Remaining));
    }

    [Fact]
    public void Reservation_NotCommittedBeforeExpiry_ReturnsToBudget()
    {
        var book = NewBook();
        book.Reserve(T0, "r1", 1000, T0 + 5_000);
        Assert.Equal(0, book.Remaining(T0 + 4_999));

        Assert.Equal(1000, book.Remaining(T0 + 5_000));
        Assert.False(book.Commit(T0 + 5_000, "r1", 10).Found);
        Assert.True(book.Reserve(T0 + 5_000, "r2", 1000, T0 + 10_000).Granted);
    }

    [Fact]
    public void CommitMoreThanReserved_RecordsActualUsage()
    {
        var book = NewBook();
        book.Reserve(T0, "r1", 100, T0 + 60_000);

        var commit = book.Commit(T0, "r1", 1200);

        Assert.Equal((0L, 1200L, 0L), (commit.Returned, commit.Used, commit.Remaining));
    }

    [Theory]
    [InlineData(TokenBudgetPeriodKind.Day, "2026-03-16T00:00:00Z")]
    [InlineData(TokenBudgetPeriodKind.Month, "2026-04-01T00:00:00Z")]
    public void Period_ResetsAtTheUtcBoundary(TokenBudgetPeriodKind period, string boundary)
    {
        var book = NewBook(period: period);
        book.Reserve(T0, "r1", 1000, T0 + 60_000);
        book.Commit(T0, "r1", 1000);
        var resetAt = DateTimeOffset.Parse(boundary, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();

        Assert.Equal(resetAt, book.ResetAtMs);
        Assert.False(book.Reserve(resetAt - 1, "r2", 1, resetAt + 60_000).Granted);
        Assert.True(book.Reserve(resetAt, "r3", 1, resetAt + 60_000).Granted);
        Assert.Equal(0, book.Used);
    }

    [Fact]
    public void ClockGoingBackwards_KeepsThePeriod()
    {
        var book = NewBook();
        book.Reserve(T0, "r1", 1000, T0 + 60_000);
        book.Commit(T0, "r1", 1000);

        Assert.False(book.Reserve(T0 - 86_400_000L * 3, "r2", 1, T0).Granted);
    }

    [Theory]
    [InlineData(0, 799, 1000, null)]
    [InlineData(0, 800, 1000, 80)]
    [InlineData(80, 999, 1000, null)]
    [InlineData(80, 1000, 1000, 100)]
    [InlineData(0, 1200, 1000, 100)]
    [InlineData(100, 5000, 1000, null)]
    [InlineData(0, 0, 0, null)]
    public void Thresholds_EachOncePerPeriod(int announced, long used, long budget, int? expected)
        => Assert.Equal(expected, TokenBudgetThresholds.Next(announced, used, budget));
}
