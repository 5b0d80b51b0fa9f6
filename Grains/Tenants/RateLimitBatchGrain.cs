using Orleans.Concurrency;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Grains.Tenants;

/// <summary>Fans a batch out to the counter grains; holds no state, so any number of activations may run.</summary>
[StatelessWorker]
internal sealed class RateLimitBatchGrain : Grain, IRateLimitBatchGrain
{
    public Task<RateLimitResult[]> CheckManyAsync(RateLimitCheck[] checks)
    {
        ArgumentNullException.ThrowIfNull(checks);
        return Task.WhenAll(checks.Select(c => GrainFactory.GetGrain<IRateLimitGrain>(c.CounterKey).CheckAsync(c.Policy, c.Cost)));
    }
}
