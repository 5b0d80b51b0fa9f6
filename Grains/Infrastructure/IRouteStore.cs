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
}
