using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Runtime;
using StackExchange.Redis;

namespace Orleans.Coordinator.Hosting;

/// <summary>Readiness (<c>cluster</c>): the grain cluster lists at least one active silo.</summary>
internal sealed class ClusterReadinessCheck(IGrainFactory grains) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(cancellationToken);
        return hosts.Count == 0 ? HealthCheckResult.Unhealthy("no active silo") : HealthCheckResult.Healthy($"{hosts.Count} active silo(s)");
    }
}

/// <summary>Readiness (<c>redis</c>): Redis answers PING on the gateway's shared connection.</summary>
internal sealed class RedisReadinessCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var latency = await redis.GetDatabase().PingAsync().WaitAsync(cancellationToken);
        return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:0.##} ms");
    }
}
