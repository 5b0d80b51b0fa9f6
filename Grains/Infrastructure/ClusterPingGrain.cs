using Orleans.Concurrency;
using Orleans.Coordinator.Grains.Interfaces;

namespace Orleans.Coordinator.Grains.Infrastructure;

/// <summary>See <see cref="IClusterPingGrain"/>: local to the silo that receives the call, stateless, always free.</summary>
[StatelessWorker]
internal sealed class ClusterPingGrain : Grain, IClusterPingGrain
{
    public Task PingAsync() => Task.CompletedTask;
}
