using Microsoft.Extensions.Time.Testing;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Resilience;
using Orleans.Runtime;

namespace Orleans.Coordinator.Tests.Resilience;

/// <summary>The breaker's state machine on a fake clock.</summary>
public sealed class CircuitBreakerTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    private DependencyGuard NewGuard() => new(
        new CircuitBreaker("cluster", minimumThroughput: 3, openFor: TimeSpan.FromSeconds(1), _time, failureRatio: 0.5, samplingDuration: TimeSpan.FromSeconds(2)),
        TimeSpan.FromSeconds(5), DependencyGuard.IsClusterOutage);

    private static Task<int> Succeed(DependencyGuard guard) => guard.RunAsync(() => Task.FromResult(1));

    private static Task<DependencyDownException> Fail(DependencyGuard guard)
        => Assert.ThrowsAsync<DependencyDownException>(() => guard.RunAsync<int>(() => throw new SiloUnavailableException()));

    [Fact]
    public async Task Closed_StaysClosed_UntilTheWindowHasEnoughCalls_AndEnoughOfThemFailed()
    {
        var guard = NewGuard();

        await Succeed(guard);
        await Succeed(guard);
        await Succeed(guard);
        await Fail(guard);
        await Fail(guard);
        Assert.Equal(BreakerState.Closed, guard.Breaker.State); // 2 of 5 failed: under half

        await Fail(guard);
        Assert.Equal(BreakerState.Open, guard.Breaker.State); // 3 of 6: half
        Assert.StartsWith("SiloUnavailableException", guard.Breaker.LastFailure, StringComparison.Ordinal);

        var fresh = NewGuard();
        await Fail(fresh);
        await Fail(fresh);
        Assert.Equal(BreakerState.Closed, fresh.Breaker.State); // every call failed, but fewer than the minimum throughput
        await Fail(fresh);
        Assert.Equal(BreakerState.Open, fresh.Breaker.State);
    }

    [Fact]
    public async Task FailuresOlderThanTheSamplingWindow_DoNotCount()
    {
        var guard = NewGuard();

        await Fail(guard);
        await Fail(guard);
        _time.Advance(TimeSpan.FromSeconds(3));
        await Fail(guard);

        Assert.Equal(BreakerState.Closed, guard.Breaker.State);
    }

    [Fact]
    public async Task Open_RefusesAtOnce_UntilItsPeriodPasses_ThenGivesExactlyOneTrial()
    {
        var guard = NewGuard();
        await Trip(guard);
        var called = 0;

        Assert.Equal("circuit open", (await Assert.ThrowsAsync<DependencyDownException>(() => guard.RunAsync(() => Task.FromResult(++called)))).Reason);
        Assert.False(guard.Breaker.TrialDue);
        _time.Advance(TimeSpan.FromMilliseconds(999));
        await Assert.ThrowsAsync<DependencyDownException>(() => guard.RunAsync(() => Task.FromResult(++called)));
        Assert.Equal(0, called);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(guard.Breaker.TrialDue);
        var trialAnswer = new TaskCompletionSource<int>();
        var trial = guard.RunAsync(() => trialAnswer.Task);
        Assert.Equal(BreakerState.HalfOpen, guard.Breaker.State);
        Assert.False(guard.Breaker.TrialDue);
        Assert.Equal("circuit open", (await Assert.ThrowsAsync<DependencyDownException>(() => guard.RunAsync(() => Task.FromResult(++called)))).Reason);
        Assert.Equal(0, called);

        trialAnswer.SetResult(7);
        Assert.Equal(7, await trial);
        Assert.Equal(BreakerState.Closed, guard.Breaker.State);
    }

    [Fact]
    public async Task HalfOpen_TrialSuccess_Closes_TrialFailure_OpensForAnotherPeriod()
    {
        var closed = NewGuard();
        await Trip(closed);
        _time.Advance(TimeSpan.FromSeconds(1));
        await Succeed(closed);
        Assert.Equal(BreakerState.Closed, closed.Breaker.State);
        await Succeed(closed);

        var reopened = NewGuard();
        await Trip(reopened);
        _time.Advance(TimeSpan.FromSeconds(1));
        await Fail(reopened);
        Assert.Equal(BreakerState.Open, reopened.Breaker.State);
        Assert.Equal("circuit open", (await Assert.ThrowsAsync<DependencyDownException>(() => Succeed(reopened))).Reason);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await Succeed(reopened));
    }

    [Fact]
    public async Task StateChanged_ReportsEachTransitionOnce()
    {
        var guard = NewGuard();
        var seen = new List<BreakerState>();
        guard.Breaker.StateChanged += (_, state) => seen.Add(state);

        await Trip(guard);
        await Assert.ThrowsAsync<DependencyDownException>(() => Succeed(guard));
        _time.Advance(TimeSpan.FromSeconds(1));
        await Succeed(guard);
        await Succeed(guard);

        Assert.Equal([BreakerState.Open, BreakerState.HalfOpen, BreakerState.Closed], seen);
    }

    [Fact]
    public void OptionsOutsidePollysRanges_AreRefusedAtStartup()
    {
        var errors = new ResilienceOptions { BreakerMinimumThroughput = 1, BreakerFailureRatio = 0, BreakerSamplingDuration = TimeSpan.FromMilliseconds(100), BreakerOpenFor = TimeSpan.FromMilliseconds(10) }.Validate().ToList();

        Assert.Equal(4, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("Resilience:BreakerMinimumThroughput", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Resilience:BreakerFailureRatio", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Resilience:BreakerSamplingDuration", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Resilience:BreakerOpenFor", StringComparison.Ordinal));
        Assert.Empty(new ResilienceOptions().Validate());
    }

    [Fact]
    public async Task Guard_AnswersWithinItsTimeout_AndCountsOnlyOutages()
    {
        var guard = new DependencyGuard(new CircuitBreaker("cluster", 4, TimeSpan.FromSeconds(1), _time, failureRatio: 0.8), TimeSpan.FromMilliseconds(50), DependencyGuard.IsClusterOutage);
        var never = new TaskCompletionSource<int>();

        var slow = await Assert.ThrowsAsync<DependencyDownException>(() => guard.RunAsync(() => never.Task));
        await Assert.ThrowsAsync<ArgumentException>(() => guard.RunAsync<int>(() => throw new ArgumentException("bad input")));
        await Assert.ThrowsAsync<DependencyDownException>(() => guard.RunAsync<int>(() => throw new Orleans.Runtime.SiloUnavailableException()));
        await Assert.ThrowsAsync<DependencyDownException>(() => guard.RunAsync<int>(() => throw new TimeoutException()));
        Assert.Equal(BreakerState.Closed, guard.Breaker.State);
        await Assert.ThrowsAsync<DependencyDownException>(() => guard.RunAsync<int>(() => throw new TimeoutException()));
        var open = await Assert.ThrowsAsync<DependencyDownException>(() => guard.RunAsync(() => Task.FromResult(1)));

        Assert.Equal("timeout", slow.Reason);
        Assert.Equal(BreakerState.Open, guard.Breaker.State);
        Assert.Equal("circuit open", open.Reason);
    }

    private static async Task Trip(DependencyGuard guard)
    {
        for (var i = 0; i < guard.Breaker.MinimumThroughput; i++)
        {
            await Fail(guard);
        }

        Assert.Equal(BreakerState.Open, guard.Breaker.State);
    }
}
