using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Routing;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// Route lookups under the failure contract: the mapping grain; when the cluster is down, the stored route read
/// straight from Redis (exact: the grain writes through to it); when Redis is down too, this gateway's own last
/// answer if younger than <see cref="ResilienceOptions.MappingStaleFor"/>; else the default destination.
/// Writes through this gateway replace or drop its copy; other gateways' copies are only served during an
/// outage, and only within that bound. Before all of it, hits are answered from <see cref="RouteCache"/>.
/// </summary>
public sealed class MappingResolver(IGrainFactory grains, ResilienceState state, IServiceProvider services, IOptions<MappingOptions> mappings, TimeProvider time, RouteCache cache)
{
    private readonly Remembered<(RouteResolution Route, DateTimeOffset At)> _seen = new(state.Options.RememberedEntries);

    /// <summary>Resolves an identifier key.</summary>
    public async Task<(RouteResolution Route, ServedMode Mode)> ResolveAsync(string key)
    {
        if (cache.TryGet(key, out var copy))
        {
            return (copy, ServedMode.Normal);
        }

        var generation = cache.Generation;
        if (!state.Enabled)
        {
            var answer = await grains.Get<IRouteMappingGrain>(key).ResolveRouteAsync();
            cache.Store(key, answer, generation);
            return (answer, ServedMode.Normal);
        }

        try
        {
            var route = await state.Cluster.RunAsync(() => grains.Get<IRouteMappingGrain>(key).ResolveRouteAsync());
            _seen.Set(key, (route, time.GetUtcNow()));
            cache.Store(key, route, generation);
            return (route, ServedMode.Normal);
        }
        catch (Exception ex) when (ex is DependencyDownException or Grains.Interfaces.CoordinatorUnavailableException)
        {
            return await AroundTheClusterAsync(key);
        }
    }

    /// <summary>
    /// Makes a change to the route of <paramref name="key"/> through its grain (a write, a delete or an invalidation),
    /// forgetting this gateway's copies before the change and again after it: a lookup that ran during the change may
    /// have kept the old route.
    /// </summary>
    public async Task ChangeAsync(string key, Func<IRouteMappingGrain, Task> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        Forget(key);
        try
        {
            await change(grains.Get<IRouteMappingGrain>(key));
        }
        finally
        {
            Forget(key);
        }
    }

    private void Forget(string key)
    {
        cache.Evict(key);
        _seen.Remove(key);
    }

    private async Task<(RouteResolution Route, ServedMode Mode)> AroundTheClusterAsync(string key)
    {
        try
        {
            var stored = await services.GetRequiredService<FallbackStore>().ReadRouteAsync(key);
            var route = stored is null
                ? new RouteResolution(key, mappings.Value.DefaultDestination, RouteSource.Default)
                : new RouteResolution(key, stored, RouteSource.Mapping);
            _seen.Set(key, (route, time.GetUtcNow()));
            return (route, ServedMode.Fallback);
        }
        catch (DependencyDownException)
        {
            if (_seen.TryGet(key, out var seen) && time.GetUtcNow() - seen.At <= state.Options.MappingStaleFor)
            {
                return (seen.Route, ServedMode.Fallback);
            }

            return (new RouteResolution(key, mappings.Value.DefaultDestination, RouteSource.Default), ServedMode.Degraded);
        }
    }
}
