extern alias silo;
using System.Net;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Gateway;

[Collection(EmbeddedGatewayCollection.Name)]
public sealed class AuthAndHostingTests(EmbeddedGatewayFixture fixture)
{
    [Fact]
    public async Task DataPlaneCall_WithoutToken_Returns401Problem()
    {
        using var anonymous = fixture.Gateway.CreateClient();

        var response = await anonymous.GetAsync($"/v1/users/{TestKeys.User()}", TestContext.Current.CancellationToken);

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task DataPlaneCall_WithWrongToken_Returns401Problem()
    {
        using var wrong = fixture.Gateway.CreateClient("not-a-configured-token-at-all");

        var response = await wrong.GetAsync($"/v1/mappings/{TestKeys.Identifier()}", TestContext.Current.CancellationToken);

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task ManagementCall_WithClientToken_Returns403Problem()
    {
        var response = await fixture.Client.PutJsonAsync($"/v1/mappings/{TestKeys.Identifier()}", new { destination = "x" });

        await response.AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task DataPlaneCall_WithAdminToken_IsAllowed()
    {
        var response = await fixture.Admin.GetAsync($"/v1/users/{TestKeys.User()}", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Dashboard_NeedsAdminToken()
    {
        using var anonymous = fixture.Gateway.CreateClient();

        var refused = await anonymous.GetAsync("/dashboard/", TestContext.Current.CancellationToken);
        var asClient = await fixture.Client.GetAsync("/dashboard/", TestContext.Current.CancellationToken);
        var allowed = await fixture.Admin.GetAsync("/dashboard/", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, asClient.StatusCode);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Contains("<html", await allowed.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task HealthAndOpenApi_AreAnonymous()
    {
        using var anonymous = fixture.Gateway.CreateClient();

        var health = await anonymous.GetAsync("/healthz", TestContext.Current.CancellationToken);
        var ready = await (await anonymous.GetAsync("/readyz", TestContext.Current.CancellationToken)).JsonAsync();
        var openApi = await (await anonymous.GetAsync("/openapi/v1.json", TestContext.Current.CancellationToken)).JsonAsync();

        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        Assert.Equal("embedded", ready.GetProperty("deployment").GetString());
        Assert.Equal("normal", ready.GetProperty("mode").GetString());
        var paths = openApi.GetProperty("paths");
        foreach (var path in new[] { "/v1/users/{user}/connections", "/v1/users/{user}/bytes", "/v1/users/{user}/limits", "/v1/mappings/{identifier}", "/v1/mappings/{identifier}/invalidate" })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"OpenAPI document lacks {path}");
        }
    }
}

/// <summary>Startup behaviour: auth modes and configuration that must refuse to start.</summary>
public sealed class GatewayStartupTests
{
    [Fact]
    public async Task EmbeddedOnLoopback_WithoutTokens_AuthIsOff()
    {
        await using var gateway = await GatewayHost.StartAsync();
        using var anonymous = gateway.CreateClient();

        var put = await anonymous.PutJsonAsync($"/v1/mappings/{TestKeys.Identifier()}", new { destination = "x" });

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
    }

    [Fact]
    public void EmbeddedBeyondLoopback_WithoutTokens_RefusesToStart()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => GatewayHost.Build(new Dictionary<string, string?> { ["urls"] = "http://0.0.0.0:0" }));

        Assert.Contains("Auth__AdminTokens__0", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ClusterMode_WithoutTokens_RefusesToStart()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => GatewayHost.Build(new Dictionary<string, string?> { ["Redis:ConnectionString"] = "127.0.0.1:1" }));

        Assert.Contains("cluster-mode gateway", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Auth__Disabled=true", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClusterMode_AuthExplicitlyDisabled_Builds()
    {
        await using var app = GatewayHost.Build(new Dictionary<string, string?>
        {
            ["Redis:ConnectionString"] = "127.0.0.1:1",
            ["Auth:Disabled"] = "true",
        });

        Assert.NotNull(app.Services);
    }

    [Fact]
    public async Task InvalidOptions_FailStartNamingEveryProblem()
    {
        await using var app = GatewayHost.Build(new Dictionary<string, string?>
        {
            ["Leases:DefaultMaxConnections"] = "-1",
            ["Mappings:DefaultDestination"] = "two words",
        });

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync(TestContext.Current.CancellationToken));

        Assert.True(StartupFailure.IsConfigurationError(ex), ex.ToString());
        var all = StartupFailure.Describe(ex);
        Assert.Contains("Leases:DefaultMaxConnections", all, StringComparison.Ordinal);
        Assert.Contains("Mappings:DefaultDestination", all, StringComparison.Ordinal);
    }

    [Fact]
    public void ShortToken_IsRefused()
    {
        var auth = new silo::Orleans.Coordinator.Hosting.AuthOptions { AdminTokens = ["short"] };

        Assert.NotEmpty(auth.Validate());
    }
}
