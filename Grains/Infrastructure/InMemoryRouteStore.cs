using System.Collections.Concurrent;

namespace Orleans.Coordinator.Grains.Infrastructure;

/// <summary>Route mappings in process memory (embedded mode and tests): lost when the process stops.</summary>
public sealed class InMemoryRouteStore : IRouteStore
{
    private readonly ConcurrentDictionary<string, string> _routes = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public Task<string?> GetAsync(string identifierKey)
        => Task.FromResult(_routes.TryGetValue(identifierKey, out var destination) ? destination : null);

    /// <inheritdoc/>
    public Task SetAsync(string identifierKey, string destination)
    {
        _routes[identifierKey] = destination;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task DeleteAsync(string identifierKey)
    {
        _routes.TryRemove(identifierKey, out _);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    /// <remarks>In memory there is one process, whose gateway drops its own copy on every write it makes.</remarks>
    public Task AnnounceChangeAsync(string identifierKey) => Task.CompletedTask;
}
