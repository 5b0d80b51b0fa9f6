using System.Net;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Coordination;

[Collection(EmbeddedGatewayCollection.Name)]
public sealed class LocksApiTests(EmbeddedGatewayFixture fixture)
{
    private HttpClient Http => fixture.Client;

    [Fact]
    public async Task Lock_AcquireHeldRenewReleaseValidate_OverHttp()
    {
        var name = $"provision:{Guid.NewGuid():N}";

        var grant = await (await Http.PostJsonAsync($"/v1/locks/{name}/acquire", new { owner = "p1", ttlMs = 30_000 })).JsonAsync();
        var held = await Http.PostJsonAsync($"/v1/locks/{name}/acquire", new { owner = "p2", ttlMs = 30_000 });
        var token = grant.GetProperty("fencingToken").GetInt64();
        var renew = await Http.PostJsonAsync($"/v1/locks/{name}/renew", new { owner = "p1", fencingToken = token, ttlMs = 60_000 });
        var wrongOwner = await Http.PostJsonAsync($"/v1/locks/{name}/release", new { owner = "p2", fencingToken = token });
        var validate = await (await Http.PostJsonAsync($"/v1/locks/{name}/validate", new { fencingToken = token })).JsonAsync();
        var release = await Http.PostJsonAsync($"/v1/locks/{name}/release", new { owner = "p1", fencingToken = token });
        var next = await (await Http.PostJsonAsync($"/v1/locks/{name}/acquire", new { owner = "p2", ttlMs = 30_000 })).JsonAsync();

        Assert.Equal(1, token);
        var problem = await held.AssertProblemAsync(HttpStatusCode.Conflict, "lock-held");
        Assert.Equal("p1", problem.GetProperty("holder").GetString());
        Assert.Equal(HttpStatusCode.OK, renew.StatusCode);
        await wrongOwner.AssertProblemAsync(HttpStatusCode.Conflict, "lock-not-held");
        Assert.True(validate.GetProperty("newest").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, release.StatusCode);
        Assert.Equal(2, next.GetProperty("fencingToken").GetInt64());
    }

    [Theory]
    [InlineData("""{"owner":"p","ttlMs":99}""", "ttlMs")]
    [InlineData("""{"owner":"p","ttlMs":3600001}""", "ttlMs")]
    [InlineData("""{"owner":"","ttlMs":1000}""", "owner")]
    [InlineData("""{"ttlMs":1000}""", "owner")]
    [InlineData("""{"owner":"p","ttlMs":1000,"waitMs":-1}""", "waitMs")]
    [InlineData("""{"owner":"p","ttlMs":1000,"waitMs":60001}""", "waitMs")]
    public async Task Acquire_BadInput_Returns400NamingField(string body, string field)
        => await (await Http.PostRawAsync($"/v1/locks/l-{Guid.NewGuid():N}/acquire", body)).AssertBadFieldAsync(field);

    [Fact]
    public async Task Release_UnknownLock_Returns404_AndMissingTokenIs400()
    {
        await (await Http.PostJsonAsync($"/v1/locks/never-{Guid.NewGuid():N}/release", new { owner = "p", fencingToken = 1 }))
            .AssertProblemAsync(HttpStatusCode.NotFound, "lock-not-found");
        await (await Http.PostJsonAsync($"/v1/locks/l/release", new { owner = "p" })).AssertBadFieldAsync("fencingToken");
        await (await Http.PostJsonAsync($"/v1/locks/{new string('n', 257)}/acquire", new { owner = "p" })).AssertBadFieldAsync("name");
    }
}
