using System.Net;
using System.Text;
using Microsoft.Extensions.Primitives;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Gateway;

/// <summary>
/// <c>If-Match</c> and <c>If-None-Match</c> on the tenant configuration follow RFC 9110 section 13: one test per rule.
/// </summary>
[Collection(EmbeddedGatewayCollection.Name)]
public sealed class ConditionalRequestTests(EmbeddedGatewayFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A tenant whose configuration is at version <paramref name="version"/> (0: none).</summary>
    private async Task<string> TenantAtVersionAsync(int version)
    {
        var tenant = TestKeys.User("etag");
        for (var i = 0; i < version; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await PutAsync(tenant)).StatusCode);
        }

        return tenant;
    }

    private Task<HttpResponseMessage> PutAsync(string tenant, string? ifMatch = null, string? ifNoneMatch = null, params string[] moreIfMatchLines)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/tenants/{tenant}/config")
        {
            Content = new StringContent("""{"upstream":"x"}""", Encoding.UTF8, "application/json"),
        };
        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", [ifMatch, .. moreIfMatchLines]);
        }

        if (ifNoneMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        }

        return fixture.Admin.SendAsync(request, Ct);
    }

    private Task<HttpResponseMessage> GetAsync(string tenant, string? ifNoneMatch = null, string? ifMatch = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/tenants/{tenant}/config");
        if (ifNoneMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        }

        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        return fixture.Client.SendAsync(request, Ct);
    }

    [Fact]
    public async Task IfMatch_ListWithTheCurrentTag_Succeeds()
    {
        // The example: at ETag "1", If-Match: "0", "1" matches (a list matches when any member does).
        var tenant = await TenantAtVersionAsync(1);

        var response = await PutAsync(tenant, "\"0\", \"1\"");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("\"2\"", response.Headers.ETag?.Tag);
    }

    [Fact]
    public async Task IfMatch_OverSeveralHeaderLines_IsOneList()
        => Assert.Equal(HttpStatusCode.OK, (await PutAsync(await TenantAtVersionAsync(2), "\"1\"", null, "\"2\"")).StatusCode);

    [Fact]
    public async Task IfMatch_Star_NeedsTheResourceToExist()
    {
        Assert.Equal(HttpStatusCode.OK, (await PutAsync(await TenantAtVersionAsync(1), "*")).StatusCode);
        var missing = await PutAsync(await TenantAtVersionAsync(0), "*");
        var body = await missing.AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");
        Assert.Equal(0, body.GetProperty("currentVersion").GetInt64());
    }

    [Fact]
    public async Task IfMatch_WeakTag_NeverMatches_StrongComparison()
        => await (await PutAsync(await TenantAtVersionAsync(1), "W/\"1\"")).AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");

    [Theory]
    [InlineData("\"abc\"")]
    [InlineData("\"2\"")]
    [InlineData("\"\"")]
    [InlineData("\"-1\"")]
    public async Task IfMatch_TagThatMatchesNothing_Is412(string tag)
        => await (await PutAsync(await TenantAtVersionAsync(1), tag)).AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");

    [Fact]
    public async Task IfMatch_ResourceDoesNotExist_Is412_AndNothingIsCreated()
    {
        var tenant = await TenantAtVersionAsync(0);

        await (await PutAsync(tenant, "\"1\"")).AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");

        await (await GetAsync(tenant)).AssertProblemAsync(HttpStatusCode.NotFound, "tenant-config-not-found");
    }

    [Fact]
    public async Task IfNoneMatchStar_CreatesOnlyWhenAbsent()
    {
        var tenant = await TenantAtVersionAsync(0);

        var created = await PutAsync(tenant, ifNoneMatch: "*");
        var again = await PutAsync(tenant, ifNoneMatch: "*");

        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        Assert.Equal("\"1\"", created.Headers.ETag?.Tag);
        await again.AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");
    }

    [Fact]
    public async Task IfNoneMatch_OnGet_MatchesWeakly_Answers304WithTheETag()
    {
        var tenant = await TenantAtVersionAsync(1);

        var weak = await GetAsync(tenant, "W/\"1\"");
        var listed = await GetAsync(tenant, "\"7\", \"1\"");
        var other = await GetAsync(tenant, "\"2\"");

        Assert.Equal(HttpStatusCode.NotModified, weak.StatusCode);
        Assert.Equal("\"1\"", weak.Headers.ETag?.Tag);
        Assert.Empty(await weak.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(HttpStatusCode.NotModified, listed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.Equal("x", (await other.JsonAsync()).GetProperty("upstream").GetString());
    }

    [Fact]
    public async Task IfNoneMatch_OnPut_MatchingTag_Is412()
        => await (await PutAsync(await TenantAtVersionAsync(1), ifNoneMatch: "\"1\"")).AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");

    [Fact]
    public async Task IfMatch_IsEvaluatedBeforeIfNoneMatch()
    {
        var tenant = await TenantAtVersionAsync(1);

        // If-Match holds and If-None-Match names another version: the write proceeds.
        Assert.Equal(HttpStatusCode.OK, (await PutAsync(tenant, "\"1\"", "\"9\"")).StatusCode);
        // If-Match fails: 412 whatever If-None-Match says.
        await (await PutAsync(tenant, "\"1\"", "\"9\"")).AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");
    }

    [Fact]
    public async Task IfMatch_OnGet_FailingIs412()
        => await (await GetAsync(await TenantAtVersionAsync(1), ifMatch: "\"5\"")).AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");

    [Theory]
    [InlineData("1", "If-Match")]
    [InlineData("\"1", "If-Match")]
    [InlineData("\"1\" \"2\"", "If-Match")]
    [InlineData("*, \"1\"", "If-Match")]
    [InlineData("w/\"1\"", "If-Match")]
    public async Task MalformedField_Is400NamingTheHeader(string value, string header)
        => await (await PutAsync(await TenantAtVersionAsync(1), value)).AssertBadFieldAsync(header);

    [Theory]
    [InlineData("*", true, new long[0], new long[0])]
    [InlineData("\"1\"", false, new long[] { 1 }, new long[0])]
    [InlineData(" \"1\" ,W/\"2\", ,\"x\"", false, new long[] { 1 }, new long[] { 2 })]
    [InlineData("\"007\"", false, new long[0], new long[0])]
    public void TryParse_ValidFields(string field, bool any, long[] strong, long[] weak)
    {
        Assert.True(EntityTags.TryParse(new StringValues(field), out var match));
        Assert.NotNull(match);
        Assert.Equal(any, match.Any);
        Assert.Equal(strong, match.Strong);
        Assert.Equal(weak, match.Weak);
    }

    [Fact]
    public void TryParse_AbsentOrEmpty_IsNoCondition()
    {
        Assert.True(EntityTags.TryParse(StringValues.Empty, out var absent));
        Assert.True(EntityTags.TryParse(new StringValues(" , "), out var empty));
        Assert.Null(absent);
        Assert.Null(empty);
    }
}
