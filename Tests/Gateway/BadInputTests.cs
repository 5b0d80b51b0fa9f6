using System.Text;
using System.Net;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Gateway;

/// <summary>Every bad-input case of the foundation issue answers 400 problem details naming the field.</summary>
[Collection(EmbeddedGatewayCollection.Name)]
public sealed class BadInputTests(EmbeddedGatewayFixture fixture)
{
    private HttpClient Http => fixture.Admin;

    public static TheoryData<string> BadUsers => new()
    {
        new string('u', 129),
        "b%24d",
        "has%20space",
        "%20",
        "%C3%BCser",
    };

    [Theory]
    [InlineData("PUT", "/v1/sessions/0287a7707e4c18c3922e3773ee28d139/data", "{\"X\":1}")]
    [InlineData("POST", "/v1/tenants/acme/events", "{\"type\":\"order.paid\",\"data\":{\"X\":1}}")]
    [InlineData("POST", "/v1/tenants/acme/events", "{\"type\":\"order.paid\",\"data\":\"X\"}")]
    [InlineData("POST", "/v1/tenants/acme/approvals", "{\"agent\":\"a\",\"action\":\"b\",\"payload\":{\"X\":1},\"expiresInMs\":60000}")]
    [InlineData("PUT", "/v1/tenants/acme/tasks/t1", "{\"contextId\":\"c\",\"metadata\":{\"X\":1}}")]
    [InlineData("PUT", "/v1/tenants/acme/documents/policy", "{\"X\":1}")]
    [InlineData("PUT", "/v1/tenants/acme/config", "{\"X\":1}")]
    public async Task InvalidUtf8_InsideAJsonValueKeptAsItCame_Is400NotA500(string method, string path, string template)
    {
        // X becomes the bytes C3 28: a lead byte without its continuation (the fuzz test's find on session data).
        var text = Encoding.UTF8.GetBytes(template);
        var at = Array.IndexOf(text, (byte)'X');
        byte[] body = [.. text[..at], 0xC3, 0x28, .. text[(at + 1)..]];
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var client = path.Contains("/sessions/", StringComparison.Ordinal) || path.Contains("/approvals", StringComparison.Ordinal) || path.Contains("/tasks/", StringComparison.Ordinal) || path.EndsWith("/events", StringComparison.Ordinal)
            ? fixture.Client
            : fixture.Admin;

        var response = await client.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.JsonAsync();
        Assert.Contains(problem.GetProperty("field").GetString(), new[] { "body", "data", "payload", "metadata" });
    }

    [Theory]
    [MemberData(nameof(BadUsers))]
    public async Task AnyUserRoute_BadUser_Returns400NamingUser(string user)
    {
        await (await Http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" })).AssertBadFieldAsync("user");
        await (await Http.PostJsonAsync($"/v1/users/{user}/bytes", new { bytes = 1 })).AssertBadFieldAsync("user");
        await (await Http.GetAsync($"/v1/users/{user}", TestContext.Current.CancellationToken)).AssertBadFieldAsync("user");
        await (await Http.PutJsonAsync($"/v1/users/{user}/limits", new { maxConnections = 1 })).AssertBadFieldAsync("user");
    }

    [Theory]
    [InlineData("{}", "instanceId")]
    [InlineData("""{"instanceId":""}""", "instanceId")]
    [InlineData("""{"instanceId":"has space"}""", "instanceId")]
    [InlineData("""{"instanceId":"p","ttlMs":999}""", "ttlMs")]
    [InlineData("""{"instanceId":"p","ttlMs":86400001}""", "ttlMs")]
    [InlineData("""{"instanceId":"p","ttlMs":-5}""", "ttlMs")]
    [InlineData("""{"instanceId":"p","ttlMs":"soon"}""", "ttlMs")]
    [InlineData("""{"instanceId":42}""", "instanceId")]
    [InlineData("""{"instanceId":"p",""", "body")]
    [InlineData("not json", "body")]
    [InlineData("", "body")]
    public async Task AcquireConnection_BadBody_Returns400NamingField(string body, string field)
        => await (await Http.PostRawAsync($"/v1/users/{TestKeys.User()}/connections", body)).AssertBadFieldAsync(field);

    /// <summary>The fuzzer's find: a non-finite refillPerSecond on a window policy reached storage, whose JSON has no NaN (503).</summary>
    [Theory]
    [InlineData("""{"algorithm":"fixedWindow","limit":1,"windowMs":100,"refillPerSecond":"NaN","shadow":false}""")]
    [InlineData("""{"algorithm":"slidingWindow","limit":5,"windowMs":1000,"refillPerSecond":"Infinity"}""")]
    [InlineData("""{"algorithm":"fixedWindow","limit":5,"windowMs":1000,"refillPerSecond":"-Infinity"}""")]
    [InlineData("""{"algorithm":"tokenBucket","limit":5,"refillPerSecond":"NaN"}""")]
    public async Task PutPolicy_NonFiniteRefill_AnyAlgorithm_Returns400NamingRefillPerSecond(string body)
        => await (await Http.PutRawAsync($"/v1/tenants/{TestKeys.User("t")}/policies/p", body)).AssertBadFieldAsync("refillPerSecond");

    [Fact]
    public async Task AcquireConnection_UnknownFields_AreIgnored()
    {
        var response = await Http.PostRawAsync($"/v1/users/{TestKeys.User()}/connections", """{"instanceId":"p","futureField":true}""");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task AcquireConnection_NotJson_Returns415Problem()
    {
        var response = await Http.PostRawAsync($"/v1/users/{TestKeys.User()}/connections", "instanceId=p", "application/x-www-form-urlencoded");
        var problem = await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType, "validation");
        Assert.Equal("body", problem.GetProperty("field").GetString());
    }

    [Theory]
    [InlineData("{}", "bytes")]
    [InlineData("""{"bytes":-1}""", "bytes")]
    [InlineData("""{"bytes":1099511627777}""", "bytes")]
    [InlineData("""{"bytes":1e30}""", "bytes")]
    [InlineData("""{"bytes":1.5}""", "bytes")]
    [InlineData("""{"bytes":"many"}""", "bytes")]
    public async Task Bytes_BadAmount_Returns400NamingBytes(string body, string field)
        => await (await Http.PostRawAsync($"/v1/users/{TestKeys.User()}/bytes", body)).AssertBadFieldAsync(field);

    [Theory]
    [InlineData("""{"maxConnections":-1}""", "maxConnections")]
    [InlineData("""{"maxConnections":100001}""", "maxConnections")]
    [InlineData("""{"byteBudget":-1}""", "byteBudget")]
    [InlineData("""{"budgetWindowMs":10}""", "budgetWindowMs")]
    [InlineData("""{"budgetWindowMs":"daily"}""", "budgetWindowMs")]
    public async Task PutLimits_OutOfRange_Returns400NamingField(string body, string field)
    {
        var response = await Http.PutAsync($"/v1/users/{TestKeys.User()}/limits",
            new StringContent(body, System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        await response.AssertBadFieldAsync(field);
    }

    [Theory]
    [InlineData("b%24d")]
    [InlineData("%20%20")]
    [InlineData("has%20space")]
    public async Task Mapping_BadIdentifier_Returns400NamingIdentifier(string identifier)
    {
        await (await Http.GetAsync($"/v1/mappings/{identifier}", TestContext.Current.CancellationToken)).AssertBadFieldAsync("identifier");
        await (await Http.PutJsonAsync($"/v1/mappings/{identifier}", new { destination = "x" })).AssertBadFieldAsync("identifier");
    }

    [Fact]
    public async Task Mapping_OverLongIdentifier_Returns400()
        => await (await Http.GetAsync($"/v1/mappings/{new string('i', 257)}", TestContext.Current.CancellationToken)).AssertBadFieldAsync("identifier");

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"destination":""}""")]
    [InlineData("""{"destination":"two words"}""")]
    public async Task PutMapping_BadDestination_Returns400NamingDestination(string body)
    {
        var response = await Http.PutAsync($"/v1/mappings/{TestKeys.Identifier()}",
            new StringContent(body, System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        await response.AssertBadFieldAsync("destination");
    }

    [Fact]
    public async Task Renew_BadLeaseId_Returns400NamingLeaseId()
        => await (await Http.PostAsync($"/v1/users/{TestKeys.User()}/connections/bad%24id/renew", null, TestContext.Current.CancellationToken))
            .AssertBadFieldAsync("leaseId");

    [Fact]
    public async Task UnknownRoute_Returns404Problem()
    {
        var response = await Http.GetAsync("/v1/nothing-here", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
