using System.Net;
using System.Net.Sockets;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Dashboard;

namespace Orleans.Coordinator.Hosting;

/// <summary>
/// Embedded mode: the gateway hosts one silo in its own process with in-memory storage and localhost
/// clustering. This is the only Gateway file that may use a type from the Grains project (a test checks it).
/// </summary>
internal static class EmbeddedSilo
{
    /// <summary>Adds the in-process silo with the coordinator grains and the dashboard.</summary>
    public static void AddEmbeddedSilo(this WebApplicationBuilder builder)
    {
        // The silo port is private to this process: take a free one so several embedded gateways can run side by side.
        var siloPort = FreeLoopbackPort();
        builder.UseOrleans(silo => silo
            .UseLocalhostClustering(siloPort: siloPort, gatewayPort: 0, serviceId: "coordinator-embedded", clusterId: "embedded")
            .AddCoordinator()
            .AddDashboard());
    }

    /// <summary>Serves the Orleans Dashboard at <c>/dashboard</c>, behind the admin token when auth is on.</summary>
    public static void MapEmbeddedDashboard(this IEndpointRouteBuilder app)
        => app.MapOrleansDashboard(routePrefix: "/dashboard").RequireAuthorization(CoordinatorPolicies.Admin);

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
