using Orleans.Coordinator.Grains.Domain;

namespace Orleans.Coordinator.Tests.Domain;

public sealed class ConnectionLeaseBookTests
{
    private const long T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    [Theory]
    [InlineData(0, 3, true)]
    [InlineData(2, 3, true)]
    [InlineData(3, 3, false)]
    [InlineData(5, 3, false)]
    [InlineData(0, 0, false)]
    public void TryAcquire_WithLiveLeases_GrantsOnlyBelowLimit(int existing, int limit, bool expected)
    {
        // Arrange
        var book = new ConnectionLeaseBook(Enumerable.Range(0, existing).Select(i => new ConnectionLease($"l{i}", "p", 1000, T0, T0 + 1000)));

        // Act
        var decision = book.TryAcquire(T0, "new", "p", 1000, limit);

        // Assert
        Assert.Equal(expected, decision.Granted);
        Assert.Equal(expected ? existing + 1 : existing, decision.Active);
        Assert.Equal(limit, decision.Limit);
    }

    [Theory]
    [InlineData(1, 2, 4, true, 4)]
    [InlineData(2, 2, 4, false, 4)]
    [InlineData(0, 4, 4, false, 4)]
    [InlineData(0, 3, 4, true, 4)]
    public void TryAcquire_LeasesHeldElsewhere_CountAgainstTheLimit(int inBook, int heldElsewhere, int limit, bool expected, int activeAfter)
    {
        // Arrange
        var book = new ConnectionLeaseBook(Enumerable.Range(0, inBook).Select(i => new ConnectionLease($"l{i}", "p", 1000, T0, T0 + 1000)));

        // Act
        var decision = book.TryAcquire(T0, "new", "p", 1000, limit, heldElsewhere);

        // Assert
        Assert.Equal(expected, decision.Granted);
        Assert.Equal(activeAfter, decision.Active);
        Assert.Equal(expected ? inBook + 1 : inBook, book.CountActive(T0));
    }

    [Fact]
    public void TryAcquire_AtLimitAfterTtl_ExpiredLeaseFreesItsSlot()
    {
        var book = new ConnectionLeaseBook();
        Assert.True(book.TryAcquire(T0, "a", "p", ttlMs: 1000, limit: 1).Granted);
        Assert.False(book.TryAcquire(T0 + 999, "b", "p", 1000, 1).Granted);

        var decision = book.TryAcquire(T0 + 1000, "c", "p", 1000, 1);

        Assert.True(decision.Granted);
        Assert.Equal(1, decision.Active);
    }

    [Fact]
    public void TryAcquire_Denied_ReportsEarliestExpiry()
    {
        var book = new ConnectionLeaseBook();
        book.TryAcquire(T0, "a", "p", 5000, 2);
        book.TryAcquire(T0 + 10, "b", "p", 1000, 2);

        var decision = book.TryAcquire(T0 + 20, "c", "p", 1000, 2);

        Assert.False(decision.Granted);
        Assert.Equal(T0 + 1010, decision.EarliestExpiryMs);
    }

    [Fact]
    public void Renew_LiveLease_PushesExpiryFromNow()
    {
        var book = new ConnectionLeaseBook();
        book.TryAcquire(T0, "a", "p", 1000, 1);

        var renewed = book.Renew(T0 + 900, "a");

        Assert.NotNull(renewed);
        Assert.Equal(T0 + 1900, renewed.ExpiresAtMs);
    }

    [Fact]
    public void Renew_WithShorterTtl_NeverShortensTheLease()
    {
        var book = new ConnectionLeaseBook();
        book.TryAcquire(T0, "a", "p", 10_000, 1);

        var renewed = book.Renew(T0 + 1, "a", ttlMs: 1000);

        Assert.Equal(T0 + 10_000, renewed!.ExpiresAtMs);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(5000)]
    public void Renew_ExpiredOrUnknownLease_ReturnsNull(long after)
    {
        var book = new ConnectionLeaseBook();
        book.TryAcquire(T0, "a", "p", 1000, 1);

        Assert.Null(book.Renew(T0 + after, "a"));
        Assert.Null(book.Renew(T0, "unknown"));
    }

    [Fact]
    public void Release_Twice_SecondIsFalseAndHarmless()
    {
        var book = new ConnectionLeaseBook();
        book.TryAcquire(T0, "a", "p", 1000, 1);

        Assert.True(book.Release("a"));
        Assert.False(book.Release("a"));
        Assert.Equal(0, book.CountActive(T0));
    }

    [Fact]
    public void PruneExpired_RemovesOnlyExpired()
    {
        var book = new ConnectionLeaseBook();
        book.TryAcquire(T0, "short", "p", 1000, 5);
        book.TryAcquire(T0, "long", "p", 5000, 5);

        var removed = book.PruneExpired(T0 + 1000);

        Assert.Equal(1, removed);
        Assert.Equal(["long"], book.Leases.Select(l => l.LeaseId));
    }

    [Fact]
    public void CountActive_ClockGoesBackwards_LeasesStayLive()
    {
        var book = new ConnectionLeaseBook();
        book.TryAcquire(T0, "a", "p", 1000, 1);

        Assert.Equal(1, book.CountActive(T0 - 60_000));
        Assert.False(book.TryAcquire(T0 - 60_000, "b", "p", 1000, 1).Granted);
    }
}
