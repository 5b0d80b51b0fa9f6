using StackExchange.Redis;

namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>What kind of Redis a connection reaches.</summary>
public static class RedisTopology
{
    /// <summary>
    /// True when <paramref name="multiplexer"/> is connected to a Redis Cluster: the keys of one script must then share a
    /// hash slot, and keyspace events come from the node that holds each key. False before the first connection.
    /// </summary>
    public static bool IsRedisCluster(this IConnectionMultiplexer multiplexer)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        return multiplexer.GetServers().Any(s => s.ServerType == ServerType.Cluster);
    }
}
