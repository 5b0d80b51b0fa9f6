using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Routing;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Grains;

[Collection(InMemoryClusterCollection.Name)]
public sealed class RouteMappingGrainTests(InMemoryClusterFixture fixture)
{
    [Fact]
    public async Task ResolveRoute_NoMapping_AnswersConfiguredDefault()
    {
        var id = TestKeys.Identifier();

        var route = await fixture.Grains.GetGrain<IRouteMappingGrain>(id).ResolveRouteAsync();

        Assert.Equal(new RouteResolution(id, "legacy", RouteSource.Default), route with { ValidForMs = 0 });
        Assert.InRange(route.ValidForMs, 1, 30_000); // the rest of the grain's own cache time: how long a caller may reuse it
    }

    [Fact]
    public async Task SetDestination_ThenResolve_AnswersMapping_AndRemoveRestoresDefault()
    {
        var grain = fixture.Grains.GetGrain<IRouteMappingGrain>(TestKeys.Identifier());

        await grain.SetDestinationAsync("stalwart");
        var mapped = await grain.ResolveRouteAsync();
        await grain.RemoveDestinationAsync();
        var removed = await grain.ResolveRouteAsync();

        Assert.Equal(("stalwart", RouteSource.Mapping), (mapped.Destination, mapped.Source));
        Assert.Equal(("legacy", RouteSource.Default), (removed.Destination, removed.Source));
    }

    [Fact]
    public async Task SetDestination_Invalid_IsRefused()
    {
        var ex = await Assert.ThrowsAsync<CoordinatorValidationException>(
            () => fixture.Grains.GetGrain<IRouteMappingGrain>(TestKeys.Identifier()).SetDestinationAsync("no spaces allowed"));
        Assert.Equal("destination", ex.Field);
    }
}
