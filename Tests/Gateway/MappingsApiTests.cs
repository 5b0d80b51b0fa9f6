using System.Net;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Gateway;

[Collection(EmbeddedGatewayCollection.Name)]
public sealed class MappingsApiTests(EmbeddedGatewayFixture fixture)
{
    [Fact]
    public async Task GetMapping_Missing_AnswersDefaultDestination()
    {
        var id = TestKeys.Identifier();

        var body = await (await fixture.Client.GetAsync($"/v1/mappings/{id}", TestContext.Current.CancellationToken)).JsonAsync();

        Assert.Equal(id, body.GetProperty("identifier").GetString());
        Assert.Equal("legacy", body.GetProperty("destination").GetString());
        Assert.Equal("default", body.GetProperty("source").GetString());
    }

    [Fact]
    public async Task PutMapping_MixedCase_IsNormalisedAndResolvedCaseInsensitively()
    {
        var local = $"Alice-{Guid.NewGuid():N}";

        var put = await fixture.Admin.PutJsonAsync($"/v1/mappings/{local}@Example.COM", new { destination = "stalwart" });
        var got = await (await fixture.Client.GetAsync($"/v1/mappings/{local.ToUpperInvariant()}@example.com", TestContext.Current.CancellationToken)).JsonAsync();

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal($"{local.ToLowerInvariant()}@example.com", got.GetProperty("identifier").GetString());
        Assert.Equal("stalwart", got.GetProperty("destination").GetString());
        Assert.Equal("mapping", got.GetProperty("source").GetString());
    }

    [Fact]
    public async Task DeleteMapping_ThenGet_AnswersDefault()
    {
        var id = TestKeys.Identifier();
        await fixture.Admin.PutJsonAsync($"/v1/mappings/{id}", new { destination = "stalwart" });

        var delete = await fixture.Admin.DeleteAsync($"/v1/mappings/{id}", TestContext.Current.CancellationToken);
        var invalidate = await fixture.Admin.PostAsync($"/v1/mappings/{id}/invalidate", null, TestContext.Current.CancellationToken);
        var got = await (await fixture.Client.GetAsync($"/v1/mappings/{id}", TestContext.Current.CancellationToken)).JsonAsync();

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, invalidate.StatusCode);
        Assert.Equal("default", got.GetProperty("source").GetString());
    }
}
