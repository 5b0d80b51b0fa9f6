using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;

namespace Orleans.Coordinator.Grains.Infrastructure;

/// <summary>
/// The leases a gateway's Redis fallback granted for a user while it could not reach the cluster. A lease
/// grain counts them against the user's limit, so the way back from the fallback admits no more than the limit.
/// </summary>
public interface IFallbackLeases
{
    /// <summary>Live fallback leases of <paramref name="user"/>.</summary>
    Task<int> CountLiveAsync(string user, long nowMs);

    /// <summary>The live fallback leases of <paramref name="user"/>, for the user's snapshot and listing.</summary>
    Task<IReadOnlyList<Interfaces.Leases.LeaseInfo>> ListLiveAsync(string user, long nowMs);
}

/// <summary>Embedded mode: there is no fallback.</summary>
public sealed class NoFallbackLeases : IFallbackLeases
{
    /// <inheritdoc/>
    public Task<int> CountLiveAsync(string user, long nowMs) => Task.FromResult(0);

    /// <inheritdoc/>
    public Task<IReadOnlyList<Interfaces.Leases.LeaseInfo>> ListLiveAsync(string user, long nowMs) => Task.FromResult<IReadOnlyList<Interfaces.Leases.LeaseInfo>>([]);
}

/// <summary>Counts the members of the user's fallback lease set (<see cref="GrainKeys.RedisFallbackLeaseKey"/>) that expire after now.</summary>
public sealed class RedisFallbackLeases(CoordinatorRedis redis, IOptions<CoordinatorRedisOptions> options, IOptions<Orleans.Configuration.ClusterOptions> cluster) : IFallbackLeases
{
    /// <inheritdoc/>
    public Task<int> CountLiveAsync(string user, long nowMs)
        => redis.RunAsync("ZCOUNT", async db => (int)await db.SortedSetLengthAsync(
            GrainKeys.RedisFallbackLeaseKey(options.Value.KeyPrefix, cluster.Value.ServiceId, user, db.Multiplexer.IsRedisCluster()), nowMs, double.PositiveInfinity, StackExchange.Redis.Exclude.Start));

    /// <inheritdoc/>
    public Task<IReadOnlyList<Interfaces.Leases.LeaseInfo>> ListLiveAsync(string user, long nowMs)
        => redis.RunAsync<IReadOnlyList<Interfaces.Leases.LeaseInfo>>("ZRANGEBYSCORE", async db =>
        {
            var entries = await db.SortedSetRangeByScoreWithScoresAsync(
                GrainKeys.RedisFallbackLeaseKey(options.Value.KeyPrefix, cluster.Value.ServiceId, user, db.Multiplexer.IsRedisCluster()), nowMs, double.PositiveInfinity, StackExchange.Redis.Exclude.Start);
            return [.. entries.Select(e => Interfaces.Leases.FallbackLeaseMembers.Parse(e.Element.ToString(), (long)e.Score)).OfType<Interfaces.Leases.LeaseInfo>()];
        });
}
