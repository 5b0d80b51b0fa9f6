using Orleans.Coordinator.Hosting;
using Orleans.Runtime;
using StackExchange.Redis;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// Probes each open breaker's dependency as soon as its open period has passed, so the gateway goes back to the
/// grains (or to Redis) by itself, without waiting for traffic to try.
/// </summary>
internal sealed class RecoveryProbe(ResilienceState state, IGrainFactory grains, IConnectionMultiplexer redis, TimeProvider time) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            await Task.WhenAll(
                ProbeAsync(state.Cluster, async () => (await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true)).Count > 0
                    ? true
                    : throw new OrleansException("no active silo")),
                ProbeAsync(state.Redis, async () => (await redis.GetDatabase().PingAsync()) >= TimeSpan.Zero));
        }
    }

    private async Task ProbeAsync(DependencyGuard guard, Func<Task<bool>> probe)
    {
        if (!guard.Breaker.TrialDue)
        {
            return;
        }

        try
        {
            await guard.RunAsync(probe, state.Options.ProbeTimeout);
        }
        catch (DependencyDownException)
        {
            // The breaker is open again; the next tick after its open period tries again.
        }
    }
}
