using System.Globalization;
using Grpc.Net.Client;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>
/// An embedded gateway of its own for the fuzz tests (so their thousands of odd keys touch no other test's state),
/// with auth on, the gRPC port open and an envoyproxy/ratelimit rule file.
/// </summary>
public sealed class FuzzGatewayFixture : IAsyncLifetime
{
    private const string Rules = """
        domain: fuzz
        descriptors:
          - key: remote_address
            rate_limit: {unit: minute, requests_per_unit: 10}
          - key: user
            descriptors:
              - key: path
                rate_limit: {unit: second, requests_per_unit: 5}
          - key: blocked
            rate_limit: {unit: hour, requests_per_unit: 0}
        """;

    private string _file = string.Empty;

    public GatewayHost Gateway { get; private set; } = null!;

    public HttpClient Admin { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _file = Path.Combine(Path.GetTempPath(), $"fuzz-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(_file, Rules);
        Gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:GrpcPort"] = RedisServer.FreePort().ToString(CultureInfo.InvariantCulture),
            ["RateLimit:ConfigFile"] = _file,
            ["Auth:AdminTokens:0"] = GatewayHost.AdminToken,
            ["Auth:ClientTokens:0"] = GatewayHost.ClientToken,
            ["Logging:LogLevel:Default"] = "Critical",
        });
        Admin = Gateway.CreateClient(GatewayHost.AdminToken);
        Admin.Timeout = TimeSpan.FromSeconds(20);
        Channel = GrpcChannel.ForAddress(Gateway.GrpcAddress!, new GrpcChannelOptions { MaxSendMessageSize = null, MaxReceiveMessageSize = null });
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        Channel.Dispose();
        await Gateway.DisposeAsync();
        File.Delete(_file);
    }
}

[CollectionDefinition(Name)]
public sealed class FuzzGatewayCollection : ICollectionFixture<FuzzGatewayFixture>
{
    public const string Name = "fuzz gateway";
}
