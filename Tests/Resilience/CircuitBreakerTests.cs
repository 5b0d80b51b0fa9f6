using Microsoft.Extensions.Time.Testing;
using Orleans.Coordinator.Resilience;

namespace Orleans.Coordinator.Tests.Resilience;

/// <summary>The breaker's state machine on a fake clock.</summary>
public sealed class CircuitBreakerTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    private CircuitBreaker NewBreaker() => new("cluster", failureThreshold: 3, openFor: TimeSpan.FromSeconds(1), _time);

    [Fact]
    public void Closed_StaysClosed_UntilThresholdConsecutiveFailures()
    {
        var breaker = NewBreaker();

        breaker.Failure();
        breaker.Failure();
        breaker.Success();
        breaker.Failure();
        breaker.Failure();

        Assert.Equal(BreakerState.Closed, breaker.State);
        Assert.True(breaker.TryEnter());
        breaker.Failure();
        Assert.Equal(BreakerState.Open, breaker.State);
    }

    [Fact]
    public void Open_RefusesAtOnce_UntilItsPeriodPasses_ThenGivesExactlyOneTrial()
    {
        var breaker = NewBreaker();
        Trip(breaker);

        Assert.False(breaker.TryEnter());
        Assert.False(breaker.TrialDue);
        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(breaker.TryEnter());

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(breaker.TrialDue);
        Assert.True(breaker.TryEnter());
        Assert.Equal(BreakerState.HalfOpen, breaker.State);
        Assert.False(breaker.TryEnter());
    }

    [Fact]
    public void HalfOpen_TrialSuccess_Closes_TrialFailure_OpensForAnotherPeriod()
    {
        var closed = NewBreaker();
        Trip(closed);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(closed.TryEnter());
        closed.Success();
        Assert.Equal(BreakerState.Closed, closed.State);
        Assert.True(closed.TryEnter());

        var reopened = NewBreaker();
        Trip(reopened);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(reopened.TryEnter());
        reopened.Failure();
        Assert.Equal(BreakerState.Open, reopened.State);
        Assert.False(reopened.TryEnter());
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(reopened.TryEnter());
    }

    [Fact]
    public void StateChanged_ReportsEachTransitionOnce()
    {
        var breaker = NewBreaker();
        var seen = new List<BreakerState>();
        breaker.StateChanged += (_, state) => seen.Add(state);

        Trip(breaker);
        breaker.Failure();
        _time.Advance(TimeSpan.FromSeconds(1));
        breaker.TryEnter();
        breaker.Success();
        breaker.Success();

        Assert.Equal([BreakerState.Open, BreakerState.HalfOpen, BreakerState.Closed], seen);
    }

    [Fact]
    public async Task Guard_AnswersWithinItsTimeout_AndCountsOnlyOutages()
    {
        var guard = new DependencyGuard(NewBreaker(), TimeSpan.FromMilliseconds(50), DependencyGuard.IsClusterOutage);
        var never = new TaskCompletionSource<int>();

        var slow = await Assert.ThrowsAsync<Orleans.Coordinator.Hosting.DependencyDownException>(() => guard.RunAsync(() => never.Task));
        await Assert.ThrowsAsync<ArgumentException>(() => guard.RunAsync<int>(() => throw new ArgumentException("bad input")));
        await Assert.ThrowsAsync<Orleans.Coordinator.Hosting.DependencyDownException>(() => guard.RunAsync<int>(() => throw new Orleans.Runtime.SiloUnavailableException()));
        await Assert.ThrowsAsync<Orleans.Coordinator.Hosting.DependencyDownException>(() => guard.RunAsync<int>(() => throw new TimeoutException()));
        Assert.Equal(BreakerState.Closed, guard.Breaker.State);
        await Assert.ThrowsAsync<Orleans.Coordinator.Hosting.DependencyDownException>(() => guard.RunAsync<int>(() => throw new TimeoutException()));
        var open = await Assert.ThrowsAsync<Orleans.Coordinator.Hosting.DependencyDownException>(() => guard.RunAsync(() => Task.FromResult(1)));

        Assert.Equal("timeout", slow.Reason);
        Assert.Equal(BreakerState.Open, guard.Breaker.State);
        Assert.Equal("circuit open", open.Reason);
    }

    private static void Trip(CircuitBreaker breaker)
    {
        for (var i = 0; i < breaker.BreakerFailureThreshold; i++)
        {
            breaker.Failure();
        }
    }
}
