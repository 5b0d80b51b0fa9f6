using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Routing;

namespace Orleans.Coordinator.Grains.Routing;

/// <summary>
/// Owns one identifier's route. The store (a plain Redis string in cluster mode) is the truth; the grain
/// keeps a copy for <see cref="MappingOptions.CacheTtl"/> so lookups are answered from memory, and drops
/// it on every write and on invalidate; each of those is announced to the gateways (<see cref="IRouteStore.AnnounceChangeAsync"/>),
/// whose own copies last at most as long as the grain's.
/// </summary>
/// <remarks>
/// A route written in Redis directly (<c>redis-cli SET/DEL</c>) moves this silo's change counter for the identifier
/// (<see cref="RouteChangeStamps"/>, fed by keyspace notifications), and the next lookup reads the store again.
/// </remarks>
internal sealed class RouteMappingGrain(IRouteStore store, CoordinatorClock clock, IOptions<MappingOptions> options, RouteChangeStamps stamps)
    : Grain, IRouteMappingGrain
{
    private string? _cached;
    private long _cachedUntilMs = long.MinValue;
    private RouteChangeStamps.Stamp? _stamp;
    private long _seen;

    private string Identifier => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _stamp = stamps.Acquire(Identifier);
        _seen = Volatile.Read(ref _stamp.Version);
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_stamp is { } stamp)
        {
            stamps.Release(Identifier, stamp);
        }

        return Task.CompletedTask;
    }

    public async Task<RouteResolution> ResolveRouteAsync()
    {
        var now = clock.NowMs;
        var changes = _stamp is { } stamp ? Volatile.Read(ref stamp.Version) : 0;
        if (now >= _cachedUntilMs || changes != _seen)
        {
            // The counter was read before the store: a change during the read moves it again. Recorded only once the
            // read succeeded, so a failed read does not swallow the change.
            _cached = await store.GetAsync(Identifier);
            _cachedUntilMs = now + (long)options.Value.CacheTtl.TotalMilliseconds;
            _seen = changes;
        }

        var validForMs = Math.Max(0, _cachedUntilMs - now);
        return string.IsNullOrEmpty(_cached)
            ? new RouteResolution(Identifier, options.Value.DefaultDestination, RouteSource.Default, validForMs)
            : new RouteResolution(Identifier, _cached, RouteSource.Mapping, validForMs);
    }

    public async Task SetDestinationAsync(string destination)
    {
        if (!GrainKeys.TryDestination(destination, out var valid, out var error))
        {
            throw new CoordinatorValidationException("destination", error);
        }

        await WriteAsync(() => store.SetAsync(Identifier, valid), valid);
    }

    public Task RemoveDestinationAsync() => WriteAsync(() => store.DeleteAsync(Identifier), null);

    public Task InvalidateAsync()
    {
        Invalidate();
        return store.AnnounceChangeAsync(Identifier);
    }

    /// <summary>
    /// Writes through to the store and keeps <paramref name="destination"/> as the copy; announces the change to the
    /// gateways also when the write failed (it may have been applied all the same: outcome unknown).
    /// </summary>
    private async Task WriteAsync(Func<Task> write, string? destination)
    {
        Invalidate();
        try
        {
            await write();
            Remember(destination);
        }
        finally
        {
            await store.AnnounceChangeAsync(Identifier);
        }
    }

    private void Remember(string? destination)
    {
        _cached = destination;
        _cachedUntilMs = clock.NowMs + (long)options.Value.CacheTtl.TotalMilliseconds;
    }

    private void Invalidate() => _cachedUntilMs = long.MinValue;
}
