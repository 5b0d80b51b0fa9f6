using Orleans.Coordinator.Grains.Domain;

namespace Orleans.Coordinator.Tests.Domain;

/// <summary>A shard's counters: each key counted on its own, and only counters that remember nothing are forgotten.</summary>
public sealed class RateLimitCounterSetTests
{
    private const long T0 = 1_767_225_600_000; // a window boundary
    private static readonly RateLimitRule Fixed = new(RateLimitAlgorithmKind.FixedWindow, 3, 60_000, 0, false);
    private static readonly RateLimitRule Sliding = new(RateLimitAlgorithmKind.SlidingWindow, 3, 60_000, 0, false);
    private static readonly RateLimitRule Bucket = new(RateLimitAlgorithmKind.TokenBucket, 4, 0, 2, false);

    [Fact]
    public void Keys_AreCountedApart()
    {
        var set = new RateLimitCounterSet();

        var a = Enumerable.Range(0, 5).Select(_ => set.Check("a", Fixed, T0, 1)).ToList();
        var b = set.Check("b", Fixed, T0, 1);

        Assert.Equal(3, a.Count(o => o.Allowed));
        Assert.True(b.Allowed);
        Assert.Equal(2, b.Remaining);
        Assert.Equal(2, set.Count);
    }

    [Fact]
    public void Sweep_ForgetsAFixedWindowCounter_OnlyOnceItsWindowIsOver()
    {
        var set = new RateLimitCounterSet();
        set.Check("a", Fixed, T0 + 10, 3);

        var duringWindow = set.Sweep(T0 + 59_999);
        var denied = set.Check("a", Fixed, T0 + 59_999, 1);
        var afterWindow = set.Sweep(T0 + 60_000);

        Assert.Equal(0, duringWindow);
        Assert.False(denied.Allowed);
        Assert.Equal(1, afterWindow);
        Assert.Equal(0, set.Count);
    }

    [Fact]
    public void Sweep_KeepsASlidingCounter_WhileItsPreviousWindowStillWeighs()
    {
        var set = new RateLimitCounterSet();
        set.Check("a", Sliding, T0 + 50_000, 3);

        var nextWindow = set.Sweep(T0 + 90_000);
        var weighed = set.Check("a", Sliding, T0 + 90_000, 2); // half of the previous 3 still weighs: 1 left
        var twoWindowsLater = set.Sweep(T0 + 180_000);

        Assert.Equal(0, nextWindow);
        Assert.False(weighed.Allowed);
        Assert.Equal(1, twoWindowsLater);
    }

    [Fact]
    public void Sweep_ForgetsABucket_OnlyOnceItIsFullAgain()
    {
        var set = new RateLimitCounterSet();
        set.Check("a", Bucket, T0, 4); // empty; refills 2 tokens/s

        var halfway = set.Sweep(T0 + 1_000);
        var full = set.Sweep(T0 + 2_000);

        Assert.Equal(0, halfway);
        Assert.Equal(1, full);
    }

    [Fact]
    public void Checks_SweepOnTheirOwn_NoMoreOftenThanConfigured()
    {
        var set = new RateLimitCounterSet(sweepEveryMs: 100_000);
        set.Check("old", Fixed, T0, 1); // the first check sweeps; the next sweep is due at T0 + 100 s

        set.Check("new", Fixed, T0 + 60_000, 1); // "old" is idle now, but no sweep is due yet
        var beforeDue = set.Count;
        set.Check("newer", Fixed, T0 + 100_000, 1); // due: "old" goes, "new" (still in its window) stays

        Assert.Equal(2, beforeDue);
        Assert.Equal(2, set.Count);
        Assert.Equal(2, set.Check("new", Fixed, T0 + 100_000, 0).Remaining);
    }

    [Fact]
    public void Refund_OfAForgottenCounter_GivesNothingBack()
    {
        var set = new RateLimitCounterSet();
        var charged = set.Check("a", Fixed, T0, 2);
        set.Sweep(T0 + 60_000);

        set.Refund("a", Fixed, 2, charged.WindowStartMs);

        Assert.Equal(0, set.Count);
        Assert.Equal(2, set.Check("a", Fixed, T0 + 60_000, 1).Remaining);
    }
}
