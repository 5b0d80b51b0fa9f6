namespace Orleans.Coordinator.Grains.Infrastructure;

/// <summary>Where route mappings live: a plain Redis string per identifier in cluster mode, process memory when embedded.</summary>
public interface IRouteStore
{
    /// <summary>The stored destination, or null when there is none.</summary>
    Task<string?> GetAsync(string identifierKey);

    /// <summary>Stores a destination; completes once the store acknowledged it.</summary>
    Task SetAsync(string identifierKey, string destination);

    /// <summary>Removes a mapping.</summary>
    Task DeleteAsync(string identifierKey);

    /// <summary>
    /// Tells every gateway that the route of <paramref name="identifierKey"/> changed, so they drop cached copies
    /// (Redis: a message on <see cref="Interfaces.GrainKeys.RedisRouteChangesChannel"/>). Never throws: a lost announcement
    /// is bounded by the copies' time to live, and gateways drop every copy when their connection to Redis breaks.
    /// </summary>
    Task AnnounceChangeAsync(string identifierKey);
}
