using Grpc.Core;
using Grpc.Net.Client;
using Orleans.Coordinator.Envoy.Auth;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Identity;

/// <summary>An embedded gateway serving ext_authz on its h2c port, called by a real gRPC client.</summary>
public sealed class ExtAuthzFixture : IAsyncLifetime
{
    public GatewayHost Gateway { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    public Authorization.AuthorizationClient Client { get; private set; } = null!;

    public HttpClient Admin { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:GrpcPort"] = RedisServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ExtAuthz:RouteIdentifierHeader"] = "x-login",
        });
        Channel = GrpcChannel.ForAddress(Gateway.GrpcAddress!);
        Client = new Authorization.AuthorizationClient(Channel);
        Admin = Gateway.CreateClient();
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        Channel.Dispose();
        await Gateway.DisposeAsync();
    }
}

public sealed class ExtAuthzTests(ExtAuthzFixture fixture) : IClassFixture<ExtAuthzFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<CheckResponse> CheckAsync(Dictionary<string, string> headers, Dictionary<string, string>? extensions = null)
    {
        var http = new AttributeContext.Types.HttpRequest { Method = "GET", Path = "/orders", Host = "api.example" };
        foreach (var (k, v) in headers)
        {
            http.Headers[k] = v;
        }

        var attributes = new AttributeContext { Request = new AttributeContext.Types.Request { Http = http } };
        foreach (var (k, v) in extensions ?? [])
        {
            attributes.ContextExtensions[k] = v;
        }

        return fixture.Client.CheckAsync(new CheckRequest { Attributes = attributes }, cancellationToken: Ct).ResponseAsync;
    }

    private async Task<string> NewApiKeyAsync(params string[] scopes)
        => (await (await fixture.Admin.PostJsonAsync("/v1/apikeys", new { tenant = "acme", name = "envoy", scopes })).JsonAsync()).GetProperty("apiKey").GetString()!;

    private static Dictionary<string, string> Added(CheckResponse response)
        => response.OkResponse.Headers.ToDictionary(h => h.Header.Key, h => h.Header.Value);

    [Fact]
    public async Task Check_ValidApiKey_AllowsWithTenantAndKeyHeaders_AndRoutedDestination()
    {
        var apiKey = await NewApiKeyAsync("orders:read");
        await fixture.Admin.PutJsonAsync("/v1/mappings/alice@example.com", new { destination = "stalwart" });

        var response = await CheckAsync(new() { ["x-api-key"] = apiKey, ["x-login"] = "Alice@Example.com" });

        Assert.Equal(0, response.Status.Code);
        Assert.NotNull(response.OkResponse);
        var headers = Added(response);
        Assert.Equal("acme", headers["x-coordinator-tenant"]);
        Assert.Equal(apiKey.Split('_')[1], headers["x-coordinator-key-id"]);
        Assert.Equal("stalwart", headers["x-coordinator-destination"]);
        Assert.Contains("x-api-key", response.OkResponse.HeadersToRemove);
    }

    [Fact]
    public async Task Check_InvalidApiKey_Denied401WithJsonBody()
    {
        var response = await CheckAsync(new() { ["x-api-key"] = "ock_0123456789abcdef0123456789abcdef_wrong" });

        Assert.Equal(16, response.Status.Code);
        Assert.Equal(401, (int)response.DeniedResponse.Status.Code);
        Assert.Contains("invalid-api-key", response.DeniedResponse.Body, StringComparison.Ordinal);
        Assert.Contains(response.DeniedResponse.Headers, h => h.Header.Key == "content-type" && h.Header.Value.Contains("json", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Check_KeyWithoutRequiredScope_Denied403()
    {
        var apiKey = await NewApiKeyAsync("orders:read");

        var response = await CheckAsync(new() { ["x-api-key"] = apiKey }, new() { ["required_scope"] = "orders:write" });
        var allowed = await CheckAsync(new() { ["x-api-key"] = apiKey }, new() { ["required_scope"] = "orders:read" });

        Assert.Equal(403, (int)response.DeniedResponse.Status.Code);
        Assert.NotNull(allowed.OkResponse);
    }

    [Fact]
    public async Task Check_SessionCookieOrHeader_AllowsWithSubject()
    {
        var session = await (await fixture.Admin.PostJsonAsync("/v1/sessions", new { subject = "user-7", tenant = "acme", data = new { } })).JsonAsync();
        var id = session.GetProperty("sessionId").GetString()!;

        var byCookie = await CheckAsync(new() { ["cookie"] = $"theme=dark; coordinator_session={id}" });
        var byHeader = await CheckAsync(new() { ["x-session-id"] = id });
        var unknown = await CheckAsync(new() { ["x-session-id"] = Guid.NewGuid().ToString("N") });

        Assert.Equal("user-7", Added(byCookie)["x-coordinator-subject"]);
        Assert.Equal("acme", Added(byHeader)["x-coordinator-tenant"]);
        Assert.Equal(401, (int)unknown.DeniedResponse.Status.Code);
    }

    [Fact]
    public async Task Check_NoCredentials_Denied401()
    {
        var response = await CheckAsync([]);

        Assert.Equal(401, (int)response.DeniedResponse.Status.Code);
        Assert.NotEqual(0, response.Status.Code);
    }
}
