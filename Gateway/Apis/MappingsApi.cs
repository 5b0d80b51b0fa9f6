using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Routing;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Resilience;

namespace Orleans.Coordinator.Apis;

/// <summary>Body of <c>PUT /v1/mappings/{identifier}</c>.</summary>
/// <param name="Destination">1 to 256 printable ASCII characters without white space.</param>
public sealed record PutMappingBody(string? Destination);

/// <summary>Where an identifier routes.</summary>
/// <param name="Identifier">The normalised identifier.</param>
/// <param name="Destination">The destination.</param>
/// <param name="Source"><c>mapping</c> or <c>default</c>.</param>
public sealed record MappingResponse(string Identifier, string Destination, string Source);

/// <summary>Identifier-to-destination route mappings.</summary>
public static class MappingsApi
{
    /// <summary>Maps <c>/v1/mappings</c>.</summary>
    public static RouteGroupBuilder MapMappingsApi(this IEndpointRouteBuilder app)
    {
        var mappings = app.MapGroup("/v1/mappings/{identifier}").WithTags("Mappings");

        mappings.MapGet("/", GetMapping).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("GetMapping").WithSummary("Resolve an identifier to its destination (or the default).");
        mappings.MapPut("/", PutMapping).RequireAuthorization(CoordinatorPolicies.Admin)
            .WithName("PutMapping").WithSummary("Set an identifier's destination.");
        mappings.MapDelete("/", DeleteMapping).RequireAuthorization(CoordinatorPolicies.Admin)
            .WithName("DeleteMapping").WithSummary("Remove a mapping; the identifier then resolves to the default.");
        mappings.MapPost("/invalidate", InvalidateMapping).RequireAuthorization(CoordinatorPolicies.Admin)
            .WithName("InvalidateMapping").WithSummary("Drop cached copies so the next lookup reads the store.");
        return mappings;
    }

    internal static async Task<Results<Ok<MappingResponse>, ProblemHttpResult>> GetMapping(
        string identifier, HttpContext context, MappingResolver resolver, IOptions<MappingOptions> options)
    {
        if (!TryKey(identifier, options, context, out var key, out var invalid))
        {
            return invalid;
        }

        var (route, mode) = await resolver.ResolveAsync(key);
        ResilienceState.Mark(context, "mappings", mode);
        return TypedResults.Ok(ToResponse(route));
    }

    internal static async Task<Results<Ok<MappingResponse>, ProblemHttpResult>> PutMapping(
        string identifier, PutMappingBody body, HttpContext context, MappingResolver resolver, IOptions<MappingOptions> options)
    {
        if (!TryKey(identifier, options, context, out var key, out var invalid))
        {
            return invalid;
        }

        if (!GrainKeys.TryDestination(body.Destination, out var destination, out var error))
        {
            return ProblemResponses.Invalid(context, "destination", error);
        }

        await resolver.ChangeAsync(key, grain => grain.SetDestinationAsync(destination));
        return TypedResults.Ok(new MappingResponse(key, destination, "mapping"));
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteMapping(
        string identifier, HttpContext context, MappingResolver resolver, IOptions<MappingOptions> options)
    {
        if (!TryKey(identifier, options, context, out var key, out var invalid))
        {
            return invalid;
        }

        await resolver.ChangeAsync(key, grain => grain.RemoveDestinationAsync());
        return TypedResults.NoContent();
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> InvalidateMapping(
        string identifier, HttpContext context, MappingResolver resolver, IOptions<MappingOptions> options)
    {
        if (!TryKey(identifier, options, context, out var key, out var invalid))
        {
            return invalid;
        }

        await resolver.ChangeAsync(key, grain => grain.InvalidateAsync());
        return TypedResults.NoContent();
    }

    /// <summary>Validates and normalises the route's identifier into the grain key, or gives the 400 to answer.</summary>
    private static bool TryKey(
        string identifier,
        IOptions<MappingOptions> options,
        HttpContext context,
        [NotNullWhen(true)] out string? key,
        [NotNullWhen(false)] out ProblemHttpResult? invalid)
    {
        invalid = GrainKeys.TryIdentifier(identifier, options.Value.Normalization, out key, out var error)
            ? null
            : ProblemResponses.Invalid(context, "identifier", error);
        return invalid is null;
    }

    private static MappingResponse ToResponse(RouteResolution route)
        => new(route.Identifier, route.Destination, route.Source == RouteSource.Mapping ? "mapping" : "default");
}
