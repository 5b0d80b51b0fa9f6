using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Resilience;

namespace Orleans.Coordinator.Tenants;

/// <summary>
/// This gateway's copy of tenant policies and configuration documents, each kept for
/// <see cref="CoordinatorGatewayOptions.TenantCacheTtl"/>: rate-limit checks find their policy without a grain call.
/// Writes through any gateway drop the entry at once (announced on <c>{prefix}routes:changed</c>); a lookup that was under
/// way when an entry was dropped answers what it read but does not keep it (a generation check), so an announcement is
/// never undone by a read that began before it. While the cluster is down, an expired entry is served rather than nothing (the policy in force when the
/// cluster was last reached), so the Redis fallback can keep enforcing it.
/// </summary>
internal sealed class TenantCache(IGrainFactory grains, IOptions<CoordinatorGatewayOptions> options, ResilienceState resilience, TimeProvider time)
{
    private readonly ConcurrentDictionary<(string Tenant, string Policy), Entry<RateLimitPolicy?>> _policies = new();
    private readonly ConcurrentDictionary<string, Entry<TenantConfigDocument?>> _configs = new(StringComparer.Ordinal);

    /// <summary>Bumped by every invalidation: a lookup keeps its answer only when no invalidation happened while it ran.</summary>
    private long _generation;

    /// <summary>The policy, or null when the tenant has none of that name.</summary>
    public ValueTask<RateLimitPolicy?> GetPolicyAsync(string tenant, string policy)
        => GetAsync(_policies, (tenant, policy), () => grains.Get<ITenantConfigGrain>(tenant).GetPolicyAsync(policy));

    /// <summary>The configuration document, or null when there is none.</summary>
    public ValueTask<TenantConfigDocument?> GetConfigAsync(string tenant)
        => GetAsync(_configs, tenant, () => grains.Get<ITenantConfigGrain>(tenant).GetConfigAsync());

    /// <summary>Forgets a policy after a write through this gateway.</summary>
    public void InvalidatePolicy(string tenant, string policy)
    {
        Interlocked.Increment(ref _generation);
        _policies.TryRemove((tenant, policy), out _);
    }

    /// <summary>Forgets a configuration document after a write through this gateway.</summary>
    public void InvalidateConfig(string tenant)
    {
        Interlocked.Increment(ref _generation);
        _configs.TryRemove(tenant, out _);
    }

    private async ValueTask<T> GetAsync<TKey, T>(ConcurrentDictionary<TKey, Entry<T>> cache, TKey key, Func<Task<T>> load)
        where TKey : notnull
    {
        var now = time.GetUtcNow();
        if (cache.TryGetValue(key, out var entry) && entry.ExpiresAt > now)
        {
            CoordinatorDiagnostics.CacheLookups.Add(1, new KeyValuePair<string, object?>("result", "hit"));
            return entry.Value;
        }

        CoordinatorDiagnostics.CacheLookups.Add(1, new KeyValuePair<string, object?>("result", "miss"));

        var generation = Interlocked.Read(ref _generation);
        T value;
        try
        {
            value = await resilience.CallClusterAsync(load);
        }
        catch (DependencyDownException) when (entry is not null)
        {
            return entry.Value;
        }

        var ttl = options.Value.TenantCacheTtl;
        if (ttl > TimeSpan.Zero)
        {
            // Store, then look: an invalidation (bump, then remove) either removes this entry or is seen here.
            var fresh = new Entry<T>(value, now + ttl);
            cache[key] = fresh;
            if (Interlocked.Read(ref _generation) != generation)
            {
                cache.TryRemove(new KeyValuePair<TKey, Entry<T>>(key, fresh));
            }
        }

        return value;
    }

    private sealed record Entry<T>(T Value, DateTimeOffset ExpiresAt);
}
