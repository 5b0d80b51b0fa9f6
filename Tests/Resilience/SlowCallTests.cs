using System.Diagnostics;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Resilience;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Resilience;

/// <summary>
/// The cluster guard tells a slow call from an unreachable cluster (a real in-memory cluster answers the pings): a
/// slow call to a cluster that answers is waited for up to the slow-call bound; one that outlives the bound stops the
/// patience for a while, so the next slow call costs the data-plane timeout.
/// </summary>
[Collection(InMemoryClusterCollection.Name)]
public sealed class SlowCallTests(InMemoryClusterFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan SlowBound = TimeSpan.FromMilliseconds(800);

    private DependencyGuard NewGuard() => new(
        new CircuitBreaker("cluster", 5, TimeSpan.FromSeconds(1), TimeProvider.System), Timeout, DependencyGuard.IsClusterOutage,
        new ClusterReachability(fixture.Grains, SlowBound / 2), SlowBound);

    [Fact(Timeout = 30_000)]
    public async Task SlowCall_ToAClusterThatAnswers_IsWaitedFor_NotCutAtTheTimeout()
    {
        var guard = NewGuard();

        var clock = Stopwatch.StartNew();
        var value = await guard.RunAsync(async () =>
        {
            await Task.Delay(250, TestContext.Current.CancellationToken); // a cold activation reading its state
            return 42;
        });

        Assert.Equal(42, value);
        Assert.InRange(clock.ElapsedMilliseconds, 240, 5_000);
        Assert.Equal(BreakerState.Closed, guard.Breaker.State);
    }

    [Fact(Timeout = 30_000)]
    public async Task CallOutlivingTheSlowBound_Fails_AndTheNextSlowCallCostsOnlyTheTimeout()
    {
        var guard = NewGuard();
        var never = new TaskCompletionSource<int>();

        // A call to a silo that does not answer, while the cluster (the ping) does: given up at the slow-call bound.
        var stuck = Stopwatch.StartNew();
        var first = await Assert.ThrowsAsync<DependencyDownException>(() => guard.RunAsync(() => never.Task));
        var stuckMs = stuck.ElapsedMilliseconds;

        // Patience is off for a while: the next slow call is given up at the data-plane timeout (or twice it).
        var next = Stopwatch.StartNew();
        await Assert.ThrowsAsync<DependencyDownException>(() => guard.RunAsync(() => never.Task));
        var nextMs = next.ElapsedMilliseconds;

        Assert.Equal("timeout", first.Reason);
        Assert.InRange(stuckMs, (long)SlowBound.TotalMilliseconds - 20, 5_000);
        Assert.True(nextMs < SlowBound.TotalMilliseconds / 2, $"the call after a stuck one took {nextMs} ms: patience should be off");
    }
}
