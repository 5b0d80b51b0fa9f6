using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Tests.Infrastructure;
using StackExchange.Redis;

namespace Orleans.Coordinator.Tests.Redis;

/// <summary>
/// The watchdog over a shared Redis connection: after pings have failed for 5 s it asks the client to reconnect,
/// and the connection serves commands again once Redis is back (real redis-server, killed and restarted).
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class ReconnectWatchdogTests
{
    [Fact(Timeout = 60_000)]
    public async Task RedisDownPastFiveSeconds_AsksClientToReconnect_AndCommandsWorkAgainAfterRestart()
    {
        // Arrange: a multiplexer configured as the silo's (fail fast, no backlog).
        await using var redis = await RedisServer.StartAsync();
        var options = CoordinatorRedis.BuildConfiguration(new() { ConnectionString = redis.ConnectionString });
        options.AbortOnConnectFail = false;
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
        await using var watchdog = RedisReconnectWatchdog.Start(multiplexer, NullLogger.Instance);
        await multiplexer.GetDatabase().StringSetAsync("watchdog:before", "1");

        // Act: Redis dies for longer than the watchdog's patience.
        await redis.KillAsync();
        await Wait.UntilAsync(() => watchdog.Reconfigurations >= 1, TimeSpan.FromSeconds(20),
            "the watchdog to ask the client to reconnect after 5 s of failed pings");
        Assert.Equal(1, watchdog.Reconfigurations);
        await redis.RestartAsync();

        // Assert: the same multiplexer serves commands again, and the data written before is there (AOF).
        await Wait.UntilAsync(async () =>
        {
            try
            {
                return await multiplexer.GetDatabase().StringGetAsync("watchdog:before") == "1";
            }
            catch (RedisException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(15), "the watched connection to read the key written before Redis was killed");
    }
}
