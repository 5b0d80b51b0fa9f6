namespace Orleans.Coordinator.Grains.Interfaces.Routing;

/// <summary>Where a route answer came from.</summary>
public enum RouteSource
{
    /// <summary>A mapping exists for the identifier.</summary>
    Mapping = 0,

    /// <summary>No (or an empty) mapping: the configured default destination.</summary>
    Default = 1,
}

/// <summary>The destination of an identifier.</summary>
/// <param name="Identifier">The normalised identifier (the grain key).</param>
/// <param name="Destination">The destination to route to.</param>
/// <param name="Source">Whether it came from a mapping or the default.</param>
/// <param name="ValidForMs">
/// How long (ms) the answer may be reused: the rest of the grain's own cache time (<c>Mappings:CacheTtl</c>), so a copy
/// kept by a caller is never older than the grain's; 0 when it must not be reused.
/// </param>
[GenerateSerializer, Immutable, Alias("coordinator.RouteResolution")]
public sealed record RouteResolution(
    [property: Id(0)] string Identifier,
    [property: Id(1)] string Destination,
    [property: Id(2)] RouteSource Source,
    [property: Id(3)] long ValidForMs = 0);

/// <summary>
/// The route mapping of one identifier (key: the normalised identifier, see <see cref="GrainKeys.TryIdentifier"/>).
/// In cluster mode the mapping is the plain Redis string <c>{prefix}route:{identifier}</c>; the grain caches it for
/// <c>Mappings:CacheTtl</c>, so a change made with redis-cli is seen within that time, or at once after <see cref="InvalidateAsync"/>.
/// </summary>
[Alias("coordinator.IRouteMappingGrain")]
public interface IRouteMappingGrain : IGrainWithStringKey
{
    /// <summary>The identifier's destination, or the default destination when there is no mapping.</summary>
    [Alias("ResolveRoute")]
    Task<RouteResolution> ResolveRouteAsync();

    /// <summary>Sets the destination; acknowledged once written to the store.</summary>
    [Alias("SetDestination")]
    Task SetDestinationAsync(string destination);

    /// <summary>Removes the mapping; the identifier then resolves to the default.</summary>
    [Alias("RemoveDestination")]
    Task RemoveDestinationAsync();

    /// <summary>Drops the cached copy so the next resolve reads the store.</summary>
    [Alias("Invalidate")]
    Task InvalidateAsync();
}
