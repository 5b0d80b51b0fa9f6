using System.Collections.Concurrent;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using StackExchange.Redis;

namespace Orleans.Coordinator.Grains.Identity;

/// <summary>Where seen tokens are recorded, atomically: a set-if-absent that expires with the token.</summary>
public interface IJtiStore
{
    /// <summary>Records the token for <paramref name="ttlMs"/>; true only for the caller that recorded it first.</summary>
    Task<bool> TryMarkAsync(string jtiHash, long ttlMs);
}

/// <summary>
/// Redis <c>SET {prefix}jti:{hash} 1 NX PX ttl</c>: atomic across duplicate activations and gateways, and the
/// key expires with the token. This is the project's own key, not an Orleans storage key, so a Redis TTL is right here.
/// </summary>
public sealed class RedisJtiStore(CoordinatorRedis redis) : IJtiStore
{
    /// <inheritdoc/>
    public Task<bool> TryMarkAsync(string jtiHash, long ttlMs)
        => redis.RunAsync("SET", db => db.StringSetAsync(GrainKeys.RedisJtiKey(redis.KeyPrefix, jtiHash), "1", TimeSpan.FromMilliseconds(ttlMs), When.NotExists));
}

/// <summary>Seen tokens in process memory (embedded mode), swept as they expire.</summary>
public sealed class InMemoryJtiStore(CoordinatorClock clock) : IJtiStore
{
    private readonly ConcurrentDictionary<string, long> _seen = new(StringComparer.Ordinal);
    private long _nextSweepMs;

    /// <inheritdoc/>
    public Task<bool> TryMarkAsync(string jtiHash, long ttlMs)
    {
        var now = clock.NowMs;
        Sweep(now);
        var expiresAt = now + ttlMs;
        var added = false;
        _seen.AddOrUpdate(jtiHash, _ => { added = true; return expiresAt; }, (_, existing) =>
        {
            if (existing > now)
            {
                return existing;
            }

            added = true;
            return expiresAt;
        });
        return Task.FromResult(added);
    }

    private void Sweep(long now)
    {
        if (now < Interlocked.Read(ref _nextSweepMs))
        {
            return;
        }

        Interlocked.Exchange(ref _nextSweepMs, now + 60_000);
        foreach (var (key, expiresAt) in _seen)
        {
            if (expiresAt <= now)
            {
                _seen.TryRemove(KeyValuePair.Create(key, expiresAt));
            }
        }
    }
}
