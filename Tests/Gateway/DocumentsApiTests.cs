using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Gateway;

/// <summary>Named tenant documents over real HTTP (embedded gateway, auth on).</summary>
[Collection(EmbeddedGatewayCollection.Name)]
public sealed class DocumentsApiTests(EmbeddedGatewayFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static HttpRequestMessage Request(HttpMethod method, string path, string? json = null, (string, string)? header = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = json is null ? null : new StringContent(json, Encoding.UTF8, "application/json") };
        if (header is { } h)
        {
            request.Headers.TryAddWithoutValidation(h.Item1, h.Item2);
        }

        return request;
    }

    [Fact]
    public async Task Put_Get_Conditional_Delete_AndVersionsNeverRepeat()
    {
        var path = $"/v1/tenants/{TestKeys.User("tenant")}/documents/agent-policy";
        var admin = fixture.Admin;

        var created = await admin.SendAsync(Request(HttpMethod.Put, path, """{"allowTools":["search"]}""", ("If-None-Match", "*")), Ct);
        var again = await admin.SendAsync(Request(HttpMethod.Put, path, """{"allowTools":[]}""", ("If-None-Match", "*")), Ct);
        var replaced = await admin.SendAsync(Request(HttpMethod.Put, path, """{"allowTools":["search","browse"]}""", ("If-Match", "\"1\"")), Ct);
        var read = await fixture.Client.GetAsync(path, Ct);
        var notModified = await fixture.Client.SendAsync(Request(HttpMethod.Get, path, header: ("If-None-Match", "\"2\"")), Ct);
        var staleDelete = await admin.SendAsync(Request(HttpMethod.Delete, path, header: ("If-Match", "\"1\"")), Ct);
        var deleted = await admin.SendAsync(Request(HttpMethod.Delete, path, header: ("If-Match", "\"2\"")), Ct);
        var gone = await fixture.Client.GetAsync(path, Ct);
        var recreated = await admin.SendAsync(Request(HttpMethod.Put, path, """{"allowTools":[]}"""), Ct);

        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        Assert.Equal("\"1\"", created.Headers.ETag?.Tag);
        await again.AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");
        Assert.Equal("\"2\"", replaced.Headers.ETag?.Tag);
        Assert.Equal("\"2\"", read.Headers.ETag?.Tag);
        Assert.Equal("browse", (await read.JsonAsync()).GetProperty("allowTools")[1].GetString());
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        await staleDelete.AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await gone.AssertProblemAsync(HttpStatusCode.NotFound, "document-not-found");
        Assert.Equal("\"3\"", recreated.Headers.ETag?.Tag); // an old ETag never matches a re-created document
    }

    [Fact]
    public async Task BadInput_400NamingTheField()
    {
        var tenant = TestKeys.User("tenant");

        await (await fixture.Admin.SendAsync(Request(HttpMethod.Put, $"/v1/tenants/{tenant}/documents/{new string('n', 65)}", "{}"), Ct)).AssertBadFieldAsync("name");
        await (await fixture.Admin.SendAsync(Request(HttpMethod.Put, $"/v1/tenants/{tenant}/documents/p", "[1,2]"), Ct)).AssertBadFieldAsync("document");
        await (await fixture.Admin.SendAsync(Request(HttpMethod.Put, $"/v1/tenants/{tenant}/documents/p", "{}", ("If-Match", "nope")), Ct)).AssertBadFieldAsync("If-Match");
        await (await fixture.Client.SendAsync(Request(HttpMethod.Put, $"/v1/tenants/{tenant}/documents/p", "{}"), Ct)).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
    }
}

/// <summary>Two cluster-mode gateways: a document changed through one is served new by the other within 1 s (pushed).</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class DocumentsAcrossGatewaysTests(RedisClusterFixture fixture, ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task DocumentChangedThroughAnotherGateway_IsServedEverywhere_WithinOneSecond()
    {
        var settings = fixture.GatewaySettings();
        settings["Gateway:TenantCacheTtl"] = "00:00:30"; // long copies: only the push explains a fresh answer
        await using var a = await GatewayHost.StartAsync(settings);
        await using var b = await GatewayHost.StartAsync(settings);
        using var readA = a.CreateClient(GatewayHost.ClientToken);
        using var adminB = b.CreateClient(GatewayHost.AdminToken);
        var path = $"/v1/tenants/{TestKeys.User("tenant")}/documents/policy";
        Assert.Equal(HttpStatusCode.OK, (await adminB.PutAsJsonAsync(path, new { v = 1 }, Ct)).StatusCode);
        Assert.Equal(1, (await (await readA.GetAsync(path, Ct)).JsonAsync()).GetProperty("v").GetInt32());

        var took = new List<long>();
        foreach (var v in new[] { 2, 3, 0 })
        {
            var response = v == 0 ? await adminB.DeleteAsync(path, Ct) : await adminB.PutAsJsonAsync(path, new { v }, Ct);
            Assert.True(response.IsSuccessStatusCode, $"the change to {v} through gateway B");
            var watch = Stopwatch.StartNew();
            await Wait.UntilAsync(async () =>
            {
                var answer = await readA.GetAsync(path, Ct);
                return v == 0 ? answer.StatusCode == HttpStatusCode.NotFound : answer.IsSuccessStatusCode && (await answer.JsonAsync()).GetProperty("v").GetInt32() == v;
            }, TimeSpan.FromSeconds(1), $"gateway A to serve version {v} (0: deleted) after the change through B");
            took.Add(watch.ElapsedMilliseconds);
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gateway A served each change made through B after {string.Join(", ", took)} ms"));
    }
}
