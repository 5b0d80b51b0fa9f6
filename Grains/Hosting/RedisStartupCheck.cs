using Microsoft.Extensions.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using StackExchange.Redis;

namespace Orleans.Coordinator.Grains.Hosting;

/// <summary>
/// Connects to Redis before the silo starts, so wrong credentials or an unreachable Redis stop the process
/// at once with one clear line instead of Orleans retrying its membership table for minutes. The silo process runs
/// it as a startup preflight check (before the host starts, so no host stack trace is printed); hosts that skip the
/// preflight (a TestCluster) run it as the first step of their start.
/// </summary>
internal sealed class RedisStartupCheck(CoordinatorRedis redis) : IHostedLifecycleService, IStartupCheck
{
    public Task StartingAsync(CancellationToken cancellationToken) => CheckAsync(cancellationToken);

    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        try
        {
            await redis.GetAsync().WaitAsync(cancellationToken);
        }
        catch (RedisConnectionException ex)
        {
            throw new CoordinatorConfigurationException(
                $"Redis at {string.Join(", ", CoordinatorRedis.BuildConfiguration(redis.Options).EndPoints)} cannot be reached ({ex.FailureType}): " +
                "check Redis:ConnectionString and that Redis is running.", ex);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
