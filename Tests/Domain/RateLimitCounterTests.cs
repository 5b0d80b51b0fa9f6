using Orleans.Coordinator.Grains.Domain;

namespace Orleans.Coordinator.Tests.Domain;

public sealed class RateLimitCounterTests
{
    private const long T0 = 1_767_225_600_000; // a multiple of 60 000: a window boundary
    private static readonly RateLimitRule Fixed = new(RateLimitAlgorithmKind.FixedWindow, 5, 60_000, 0, false);
    private static readonly RateLimitRule Sliding = new(RateLimitAlgorithmKind.SlidingWindow, 10, 60_000, 0, false);
    private static readonly RateLimitRule Bucket = new(RateLimitAlgorithmKind.TokenBucket, 10, 0, 2, false);

    [Theory]
    [InlineData(1, 5, 0)]
    [InlineData(2, 2, 1)]
    [InlineData(5, 1, 0)]
    public void FixedWindow_Burst_AdmitsExactlyTheLimit(long cost, int expectedAllowed, long remainingAfterLast)
    {
        var counter = new RateLimitCounter();

        var outcomes = Enumerable.Range(0, 10).Select(i => counter.Check(Fixed, T0 + i, cost)).ToList();

        Assert.Equal(expectedAllowed, outcomes.Count(o => o.Allowed));
        Assert.Equal(remainingAfterLast, outcomes.Where(o => o.Allowed).Last().Remaining);
        Assert.All(outcomes.Where(o => !o.Allowed), o => Assert.False(o.Counted));
    }

    [Fact]
    public void FixedWindow_Rollover_StartsFreshAtBoundary()
    {
        var counter = new RateLimitCounter();
        for (var i = 0; i < 5; i++)
        {
            counter.Check(Fixed, T0 + 1000, 1);
        }

        var denied = counter.Check(Fixed, T0 + 59_999, 1);
        var fresh = counter.Check(Fixed, T0 + 60_000, 1);

        Assert.False(denied.Allowed);
        Assert.Equal(1, denied.ResetAfterMs);
        Assert.Equal(1, denied.RetryAfterMs);
        Assert.True(fresh.Allowed);
        Assert.Equal(4, fresh.Remaining);
        Assert.Equal(60_000, fresh.ResetAfterMs);
    }

    [Theory]
    [InlineData(RateLimitAlgorithmKind.FixedWindow)]
    [InlineData(RateLimitAlgorithmKind.SlidingWindow)]
    [InlineData(RateLimitAlgorithmKind.TokenBucket)]
    public void CostLargerThanLimit_IsDeniedAndNothingCounted(RateLimitAlgorithmKind algorithm)
    {
        var rule = new RateLimitRule(algorithm, 5, 60_000, 1, false);
        var counter = new RateLimitCounter();

        var outcome = counter.Check(rule, T0, 6);
        var after = counter.Check(rule, T0, 5);

        Assert.False(outcome.Allowed);
        Assert.True(outcome.OverLimit);
        Assert.False(outcome.Counted);
        Assert.True(after.Allowed);
    }

    [Theory]
    [InlineData(RateLimitAlgorithmKind.FixedWindow)]
    [InlineData(RateLimitAlgorithmKind.SlidingWindow)]
    [InlineData(RateLimitAlgorithmKind.TokenBucket)]
    public void ClockGoingBackwards_NeverGivesFreshQuota(RateLimitAlgorithmKind algorithm)
    {
        var rule = new RateLimitRule(algorithm, 3, 60_000, 1, false);
        var counter = new RateLimitCounter();
        for (var i = 0; i < 3; i++)
        {
            Assert.True(counter.Check(rule, T0 + 30_000, 1).Allowed);
        }

        var back = counter.Check(rule, T0 - 120_000, 1);

        Assert.False(back.Allowed);
        Assert.InRange(back.ResetAfterMs, 0, 60_000);
    }

    [Fact]
    public void Peek_CostZero_NeverCounts()
    {
        var counter = new RateLimitCounter();
        counter.Check(Fixed, T0, 4);

        var peek = counter.Check(Fixed, T0, 0);
        var again = counter.Check(Fixed, T0, 0);

        Assert.Equal((true, false, 1L), (peek.Allowed, peek.Counted, peek.Remaining));
        Assert.Equal(1, again.Remaining);
        Assert.False(counter.Check(Fixed, T0, 2).Allowed);
        Assert.True(counter.Check(Fixed, T0, 1).Allowed);
        Assert.False(counter.Check(Fixed, T0, 0).Allowed);
    }

    [Fact]
    public void Shadow_NeverDenies_ButReportsOverLimit_AndDoesNotCountTheExcess()
    {
        var shadow = Fixed with { Shadow = true };
        var counter = new RateLimitCounter();

        var outcomes = Enumerable.Range(0, 7).Select(_ => counter.Check(shadow, T0, 1)).ToList();

        Assert.All(outcomes, o => Assert.True(o.Allowed));
        Assert.Equal(2, outcomes.Count(o => o.OverLimit));
        Assert.Equal(5, outcomes.Count(o => o.Counted));
    }

    [Fact]
    public void SlidingWindow_PreviousWindowWeighsLessAsTimePasses()
    {
        var counter = new RateLimitCounter();
        for (var i = 0; i < 10; i++)
        {
            Assert.True(counter.Check(Sliding, T0 + 50_000, 1).Allowed);
        }

        // 25% into the next window the previous 10 still weigh 7.5 (rounded up to 8): 2 left.
        var quarter = counter.Check(Sliding, T0 + 75_000, 0);
        Assert.Equal(2, quarter.Remaining);
        Assert.True(counter.Check(Sliding, T0 + 75_000, 2).Allowed);
        var denied = counter.Check(Sliding, T0 + 75_000, 1);
        Assert.False(denied.Allowed);
        Assert.InRange(denied.RetryAfterMs, 1, 60_000);

        // 90% into it the previous window weighs 1: 2 used now + 1 = 3, so 7 are left.
        Assert.Equal(7, counter.Check(Sliding, T0 + 114_000, 0).Remaining);

        // Two windows later nothing of it remains.
        Assert.Equal(10, counter.Check(Sliding, T0 + 240_000, 0).Remaining);
    }

    [Fact]
    public void TokenBucket_BurstThenRefill()
    {
        var counter = new RateLimitCounter();

        var burst = Enumerable.Range(0, 12).Select(_ => counter.Check(Bucket, T0, 1)).ToList();
        var afterOneSecond = counter.Check(Bucket, T0 + 1000, 2);
        var tooSoon = counter.Check(Bucket, T0 + 1000, 1);

        Assert.Equal(10, burst.Count(o => o.Allowed));
        Assert.Equal(500, burst[^1].RetryAfterMs); // 1 token at 2/s
        Assert.True(afterOneSecond.Allowed);
        Assert.False(tooSoon.Allowed);
        Assert.Equal(5_000, burst[9].ResetAfterMs); // 10 tokens to refill at 2/s
    }

    [Fact]
    public void TokenBucket_RefillNeverExceedsCapacity()
    {
        var counter = new RateLimitCounter();
        counter.Check(Bucket, T0, 1);

        var later = counter.Check(Bucket, T0 + 3_600_000, 0);

        Assert.Equal(10, later.Remaining);
        Assert.Equal(0, later.ResetAfterMs);
    }

    [Theory]
    [InlineData(RateLimitAlgorithmKind.FixedWindow)]
    [InlineData(RateLimitAlgorithmKind.SlidingWindow)]
    [InlineData(RateLimitAlgorithmKind.TokenBucket)]
    public void Refund_GivesTheChargeBack(RateLimitAlgorithmKind algorithm)
    {
        var rule = new RateLimitRule(algorithm, 5, 60_000, 0.001, false);
        var counter = new RateLimitCounter();
        var charged = counter.Check(rule, T0, 5);

        counter.Refund(rule, 5, charged.WindowStartMs);

        Assert.True(counter.Check(rule, T0, 5).Allowed);
    }

    [Fact]
    public void Refund_AfterTheWindowEnded_ChangesNothing()
    {
        var counter = new RateLimitCounter();
        var charged = counter.Check(Fixed, T0, 5);
        counter.Check(Fixed, T0 + 60_000, 5);

        counter.Refund(Fixed, 5, charged.WindowStartMs);

        Assert.False(counter.Check(Fixed, T0 + 60_000, 1).Allowed);
    }

    [Fact]
    public void RuleChange_NewLimitKeepsCounts_NewWindowStartsAfresh()
    {
        var counter = new RateLimitCounter();
        counter.Check(Fixed, T0, 5);

        Assert.True(counter.Check(Fixed with { Limit = 6 }, T0, 1).Allowed);
        Assert.False(counter.Check(Fixed with { Limit = 6 }, T0, 1).Allowed);
        Assert.True(counter.Check(Fixed with { WindowMs = 30_000 }, T0, 5).Allowed);
    }
}
