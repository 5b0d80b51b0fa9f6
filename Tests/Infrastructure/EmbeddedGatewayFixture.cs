namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>
/// One embedded-mode gateway (in-process silo, in-memory state) over real HTTP, with admin and client
/// tokens configured so auth is on.
/// </summary>
public sealed class EmbeddedGatewayFixture : IAsyncLifetime
{
    public GatewayHost Gateway { get; private set; } = null!;

    /// <summary>A client with the admin token.</summary>
    public HttpClient Admin { get; private set; } = null!;

    /// <summary>A client with the client token.</summary>
    public HttpClient Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Auth:AdminTokens:0"] = GatewayHost.AdminToken,
            ["Auth:ClientTokens:0"] = GatewayHost.ClientToken,
            ["Leases:DefaultMaxConnections"] = "2",
            ["Leases:DefaultByteBudget"] = "1000",
            ["Mappings:DefaultDestination"] = "legacy",
            ["Webhooks:AllowedHosts:0"] = "*",
            ["Webhooks:AllowedHosts:1"] = "127.0.0.1", // the tests' receivers listen on loopback
            ["Webhooks:InitialBackoff"] = "00:00:00.200",
            ["Webhooks:MaxBackoff"] = "00:00:00.800",
            ["Webhooks:MaxAttempts"] = "3",
        });
        Admin = Gateway.CreateClient(GatewayHost.AdminToken);
        Client = Gateway.CreateClient(GatewayHost.ClientToken);
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        Client.Dispose();
        await Gateway.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class EmbeddedGatewayCollection : ICollectionFixture<EmbeddedGatewayFixture>
{
    public const string Name = "embedded gateway";
}
