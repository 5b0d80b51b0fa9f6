using System.Net;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Coordination;

[Collection(EmbeddedGatewayCollection.Name)]
public sealed class InstancesApiTests(EmbeddedGatewayFixture fixture)
{
    private HttpClient Http => fixture.Client;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GoodbyeRepeatedConcurrently_EveryCallIsAnswered_NoneIs503()
    {
        // Found by the HTTP fuzz test: concurrent DELETEs of one instance reached an activation being torn down after the
        // first goodbye and answered 503. Each round is a fresh instance said goodbye to 8 times at once.
        for (var round = 0; round < 5; round++)
        {
            var instance = $"bye-{Guid.NewGuid():N}";
            Assert.Equal(HttpStatusCode.OK, (await Http.PutJsonAsync($"/v1/instances/{instance}/heartbeat", new { role = "proxy" })).StatusCode);

            var goodbyes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Http.DeleteAsync($"/v1/instances/{instance}", Ct)));

            Assert.All(goodbyes, g => Assert.Equal(HttpStatusCode.OK, g.StatusCode));
        }
    }

    [Fact]
    public async Task Heartbeat_ListGetAndGoodbye_ReleasesTheInstancesLeases()
    {
        // Arrange
        var role = $"r{Guid.NewGuid():N}"[..16];
        var instance = $"proxy-{Guid.NewGuid():N}";
        var beat = await Http.PutJsonAsync($"/v1/instances/{instance}/heartbeat", new { role, address = "10.0.0.7:6432", version = "2.1", metadata = new { zone = "b" } });
        await Http.PutJsonAsync($"/v1/instances/other-{Guid.NewGuid():N}/heartbeat", new { role = "not-" + role });
        var users = Enumerable.Range(0, 5).Select(i => TestKeys.User($"gb{i}")).ToList();
        foreach (var user in users)
        {
            Assert.Equal(HttpStatusCode.Created, (await Http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = instance })).StatusCode);
        }

        // Act
        var list = await (await Http.GetAsync($"/v1/instances?role={role}", Ct)).JsonAsync();
        var one = await (await Http.GetAsync($"/v1/instances/{instance}", Ct)).JsonAsync();
        var goodbye = await (await Http.DeleteAsync($"/v1/instances/{instance}", Ct)).JsonAsync();

        // Assert
        var advice = await beat.JsonAsync();
        Assert.Equal((1000L, 5000L), (advice.GetProperty("intervalMs").GetInt64(), advice.GetProperty("deadAfterMs").GetInt64()));
        var listed = Assert.Single(list.GetProperty("instances").EnumerateArray());
        Assert.Equal(instance, listed.GetProperty("instanceId").GetString());
        Assert.True(listed.GetProperty("alive").GetBoolean());
        Assert.True(listed.GetProperty("lastSeenMs").GetInt64() > 0);
        Assert.Equal("b", one.GetProperty("metadata").GetProperty("zone").GetString());
        Assert.Equal(5, goodbye.GetProperty("usersReleased").GetInt32());
        foreach (var user in users)
        {
            Assert.Equal(0, (await (await Http.GetAsync($"/v1/users/{user}", Ct)).JsonAsync()).GetProperty("activeConnections").GetInt32());
        }

        await (await Http.GetAsync($"/v1/instances/{instance}", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "instance-not-found");
    }

    [Theory]
    [InlineData("ok-id", """{}""", "role")]
    [InlineData("ok-id", """{"role":"bad role"}""", "role")]
    [InlineData("bad%20id", """{"role":"proxy"}""", "instanceId")]
    [InlineData("ok-id", """{"role":"proxy","version":"01234567890123456789012345678901234567890123456789012345678901234"}""", "version")]
    public async Task Heartbeat_BadInput_Returns400NamingField(string id, string body, string field)
    {
        var response = await Http.PutAsync($"/v1/instances/{id}/heartbeat", new StringContent(body, System.Text.Encoding.UTF8, "application/json"), Ct);
        await response.AssertBadFieldAsync(field);
    }
}
