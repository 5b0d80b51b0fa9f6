using Orleans.Runtime;
using StackExchange.Redis;

namespace Orleans.Coordinator.Hosting;

/// <summary>Ready when the grain cluster lists at least one active silo.</summary>
internal sealed class ClusterReadinessCheck(IGrainFactory grains) : IReadinessCheck
{
    public string Name => "cluster";

    public async Task<string> CheckAsync(CancellationToken cancellationToken)
    {
        var hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        if (hosts.Count == 0)
        {
            throw new InvalidOperationException("no active silo");
        }

        return $"{hosts.Count} active silo(s)";
    }
}

/// <summary>Ready when Redis answers PING.</summary>
internal sealed class RedisReadinessCheck(IConnectionMultiplexer redis) : IReadinessCheck
{
    public string Name => "redis";

    public async Task<string> CheckAsync(CancellationToken cancellationToken)
    {
        var latency = await redis.GetDatabase().PingAsync();
        return $"PING {latency.TotalMilliseconds:0.##} ms";
    }
}
