using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Orleans.Coordinator.Envoy.RateLimit;
using Orleans.Coordinator.Envoy.RateLimit.Common;
using Orleans.Coordinator.Tests.Infrastructure;
using Orleans.Runtime;

namespace Orleans.Coordinator.Tests.Envoy;

/// <summary>Rate-limit domains written through <c>/v1/ratelimit/domains</c> on an embedded gateway that also has a rules file.</summary>
public sealed class FleetDomainsApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 90_000)]
    public async Task Put_Enforce_Replace_Conditional_List_Delete_AndBadInput()
    {
        var file = Path.Combine(Path.GetTempPath(), $"rls-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, "domain: from-file\ndescriptors:\n  - key: user\n    rate_limit: {unit: minute, requests_per_unit: 1}\n", Ct);
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["RateLimit:ConfigPath"] = file,
            ["Auth:AdminTokens:0"] = GatewayHost.AdminToken,
            ["Auth:ClientTokens:0"] = GatewayHost.ClientToken,
        });
        using var admin = gateway.CreateClient(GatewayHost.AdminToken);
        using var client = gateway.CreateClient(GatewayHost.ClientToken);
        try
        {
            var startedMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            const string Path1 = "/v1/ratelimit/domains/api-dom";
            const string Yaml = "domain: api-dom\ndescriptors:\n  - key: user\n    rate_limit: {unit: minute, requests_per_unit: 2}\n";
            var created = await admin.SendAsync(Put(Path1, Yaml, "application/yaml", ("If-None-Match", "*")), Ct);
            var createdAgain = await admin.SendAsync(Put(Path1, Yaml, "application/yaml", ("If-None-Match", "*")), Ct);
            var tag = created.Headers.ETag?.Tag;
            // A version is at least the write's time in Unix ms: it never repeats, even if the stored set were lost.
            Assert.True(long.Parse(tag!.Trim('"'), CultureInfo.InvariantCulture) >= startedMs, $"the version {tag} is at least the write's time {startedMs}");
            // In force on the gateway that answered as soon as it answered: 2 per minute.
            var codes = new List<string>();
            for (var i = 0; i < 3; i++)
            {
                codes.Add(await DecideAsync(client, "api-dom", "user", "ann"));
            }

            var read = await admin.GetAsync(Path1, Ct);
            var notModified = await admin.SendAsync(Request(HttpMethod.Get, Path1, ("If-None-Match", tag!)), Ct);

            // The JSON form replaces it, conditionally: a stale tag is refused, the current one applies.
            const string Json = """{"domain": "api-dom", "descriptors": [{"key": "user", "rate_limit": {"unit": "minute", "requests_per_unit": 5}}]}""";
            var stale = await admin.SendAsync(Put(Path1, Json, "application/json", ("If-Match", "\"999\"")), Ct);
            var replaced = await admin.SendAsync(Put(Path1, Json, "application/json", ("If-Match", tag!)), Ct);
            var afterReplace = await DecideAsync(client, "api-dom", "user", "ann"); // a new limit is a new counter
            var list = await admin.GetFromJsonAsync<JsonElement>("/v1/ratelimit/domains", Ct);
            var dump = await admin.GetStringAsync("/rlconfig", Ct);

            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
            Assert.Equal("application/yaml", created.Content.Headers.ContentType?.MediaType);
            await createdAgain.AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");
            Assert.Equal(["OK", "OK", "OVER_LIMIT"], codes);
            Assert.Equal(Yaml, await read.Content.ReadAsStringAsync(Ct));
            Assert.Equal(tag, read.Headers.ETag?.Tag);
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
            await stale.AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");
            Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
            Assert.NotEqual(tag, replaced.Headers.ETag?.Tag);
            Assert.Equal("OK", afterReplace);
            Assert.Contains("api-dom.user: 5 per minute", dump, StringComparison.Ordinal);
            var entries = list.GetProperty("domains").EnumerateArray().Select(e => $"{e.GetProperty("domain").GetString()}:{e.GetProperty("source").GetString()}").ToList();
            Assert.Equal(["api-dom:api", "from-file:file"], entries);
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(Path1, Ct)).StatusCode);

            // Bad input: each answer names the field; a domain of this gateway's files cannot also come from the API.
            await (await admin.SendAsync(Put("/v1/ratelimit/domains/from-file", "domain: from-file\n", "application/yaml"), Ct)).AssertProblemAsync(HttpStatusCode.Conflict, "domain-defined-by-file");
            await (await admin.SendAsync(Put("/v1/ratelimit/domains/other", Yaml, "application/yaml"), Ct)).AssertBadFieldAsync("domain");
            var broken = await admin.SendAsync(Put("/v1/ratelimit/domains/b", "domain: b\ndescriptors:\n  - key: k\n    rate_limit: {unit: fortnight, requests_per_unit: 1}\n", "application/yaml"), Ct);
            await broken.AssertBadFieldAsync("body");
            Assert.Contains("line 4", await broken.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
            await (await admin.SendAsync(Put("/v1/ratelimit/domains/b", "domain: b\n  bad: [", "application/yaml"), Ct)).AssertBadFieldAsync("body");
            var textPlain = await admin.SendAsync(Put("/v1/ratelimit/domains/b", "domain: b\n", "text/plain"), Ct);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, textPlain.StatusCode);
            await (await admin.SendAsync(Put("/v1/ratelimit/domains/b", "domain: b\n#" + new string('x', 70_000), "application/yaml"), Ct)).AssertBadFieldAsync("body");
            await (await admin.SendAsync(Put("/v1/ratelimit/domains/" + new string('d', 129), "domain: b\n", "application/yaml"), Ct)).AssertBadFieldAsync("domain");
            await (await admin.SendAsync(Put("/v1/ratelimit/domains/b", "domain: b\n", "application/yaml", ("If-Match", "nope")), Ct)).AssertBadFieldAsync("If-Match");
            await (await client.SendAsync(Put("/v1/ratelimit/domains/b", "domain: b\n", "application/yaml"), Ct)).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
            // Texts that would cost the gateway its stack or its memory are refused before any node is built.
            var alias = await admin.SendAsync(Put("/v1/ratelimit/domains/b",
                "domain: b\ndescriptors: &l\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1}\nmore: *l\n", "application/yaml"), Ct);
            await alias.AssertBadFieldAsync("body");
            Assert.Contains("anchors", await alias.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
            var deep = await admin.SendAsync(Put("/v1/ratelimit/domains/b", "domain: b\nx: " + new string('[', 20_000) + new string(']', 20_000) + "\n", "application/yaml"), Ct);
            await deep.AssertBadFieldAsync("body");
            Assert.Contains("nested more than 64", await deep.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

            // Delete: conditional, then the domain answers OK (no rules), and is gone.
            var staleDelete = await admin.SendAsync(Request(HttpMethod.Delete, Path1, ("If-Match", tag!)), Ct);
            var deleted = await admin.SendAsync(Request(HttpMethod.Delete, Path1, ("If-Match", replaced.Headers.ETag!.Tag)), Ct);
            var afterDelete = new List<string>();
            for (var i = 0; i < 7; i++)
            {
                afterDelete.Add(await DecideAsync(client, "api-dom", "user", "ann"));
            }

            await staleDelete.AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
            Assert.All(afterDelete, code => Assert.Equal("OK", code));
            await (await admin.GetAsync(Path1, Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "ratelimit-domain-not-found");
            await (await admin.DeleteAsync(Path1, Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "ratelimit-domain-not-found");
            var recreated = await admin.SendAsync(Put(Path1, Yaml, "application/yaml"), Ct);
            Assert.True(long.Parse(recreated.Headers.ETag!.Tag.Trim('"'), CultureInfo.InvariantCulture) > long.Parse(replaced.Headers.ETag!.Tag.Trim('"'), CultureInfo.InvariantCulture),
                "a re-created domain's ETag never repeats an old one");
        }
        finally
        {
            File.Delete(file);
        }
    }

    internal static HttpRequestMessage Put(string path, string body, string mediaType, (string, string)? header = null)
    {
        var request = Request(HttpMethod.Put, path, header);
        request.Content = new StringContent(body, Encoding.UTF8);
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(mediaType);
        return request;
    }

    private static HttpRequestMessage Request(HttpMethod method, string path, (string, string)? header = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (header is { } h)
        {
            request.Headers.TryAddWithoutValidation(h.Item1, h.Item2);
        }

        return request;
    }

    /// <summary>POST /json with one descriptor of one entry; answers the overall code.</summary>
    internal static async Task<string> DecideAsync(HttpClient client, string domain, string key, string value)
    {
        var json = $$"""{"domain":"{{domain}}","descriptors":[{"entries":[{"key":"{{key}}","value":"{{value}}"}]}]}""";
        using var answer = await client.PostAsync("/json", new StringContent(json, Encoding.UTF8, "application/json"), Ct);
        using var body = JsonDocument.Parse(await answer.Content.ReadAsStringAsync(Ct));
        return body.RootElement.GetProperty("overallCode").GetString()!;
    }
}

/// <summary>
/// A fleet of cluster-mode gateways sharing the API's domains: a change through one is in force on another within 1 s
/// (pushed, measured).
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class FleetDomainsAcrossGatewaysTests(RedisClusterFixture fixture, ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task ChangeThroughOneGateway_InForceOnAnother_WithinOneSecond()
    {
        var settings = fixture.GatewaySettings();
        settings["Gateway:GrpcPort"] = RedisServer.FreePort().ToString(CultureInfo.InvariantCulture);
        await using var a = await GatewayHost.StartAsync(settings);
        await using var b = await GatewayHost.StartAsync(fixture.GatewaySettings());
        using var channel = GrpcChannel.ForAddress(a.GrpcAddress!);
        using var adminB = b.CreateClient(GatewayHost.AdminToken);
        var domain = $"fleet-{Guid.NewGuid():N}";
        var path = $"/v1/ratelimit/domains/{domain}";
        var rls = new RateLimitService.RateLimitServiceClient(channel);
        var token = new Grpc.Core.Metadata { { "authorization", $"Bearer {GatewayHost.ClientToken}" } };
        async Task<RateLimitResponse.Types.Code> DecideOnA()
        {
            var request = new RateLimitRequest { Domain = domain };
            var descriptor = new RateLimitDescriptor();
            descriptor.Entries.Add(new RateLimitDescriptor.Types.Entry { Key = "api_key", Value = "k1" });
            request.Descriptors.Add(descriptor);
            return (await rls.ShouldRateLimitAsync(request, token, cancellationToken: Ct)).OverallCode;
        }

        var health = new Health.HealthClient(channel);
        await Wait.UntilAsync(async () => (await health.CheckAsync(new HealthCheckRequest(), cancellationToken: Ct)).Status == HealthCheckResponse.Types.ServingStatus.Serving,
            TimeSpan.FromSeconds(30), "gateway A's gRPC health to say SERVING once it received the fleet's domains");
        Assert.Equal(RateLimitResponse.Types.Code.Ok, await DecideOnA());

        var steps = new (string Body, RateLimitResponse.Types.Code Expected)[]
        {
            ($"domain: {domain}\ndescriptors:\n  - key: api_key\n    rate_limit: {{unit: second, requests_per_unit: 0}}\n", RateLimitResponse.Types.Code.OverLimit),
            ($"domain: {domain}\ndescriptors:\n  - key: api_key\n    rate_limit: {{unlimited: true}}\n", RateLimitResponse.Types.Code.Ok),
            ($"domain: {domain}\ndescriptors:\n  - key: api_key\n    rate_limit: {{unit: hour, requests_per_unit: 0}}\n", RateLimitResponse.Types.Code.OverLimit),
            ("", RateLimitResponse.Types.Code.Ok), // delete
        };
        var took = new List<long>();
        foreach (var (body, expected) in steps)
        {
            var response = body.Length == 0
                ? await adminB.DeleteAsync(path, Ct)
                : await adminB.SendAsync(FleetDomainsApiTests.Put(path, body, "application/yaml"), Ct);
            Assert.True(response.IsSuccessStatusCode, $"the change through gateway B: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
            var watch = Stopwatch.StartNew();
            await Wait.UntilAsync(async () => await DecideOnA() == expected, TimeSpan.FromSeconds(1), $"gateway A to answer {expected} after a change through gateway B");
            took.Add(watch.ElapsedMilliseconds);
        }

        output.WriteLine($"gateway A applied each change made through B after {string.Join(", ", took)} ms");
    }
}

/// <summary>
/// Failures on a cluster of its own: the gRPC health service follows whether the gateway can decide (SERVING in fallback,
/// NOT_SERVING with neither the cluster nor Redis), and the fleet's domains survive the kill of the silo that held them.
/// </summary>
public sealed class FleetDomainsFailureTests(ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 180_000)]
    public async Task Serving_InFallback_NotServing_WhenNeitherTheClusterNorRedisAnswers()
    {
        await using var redis = await RedisServer.StartAsync();
        var prefix = TestKeys.Prefix("health");
        var cluster = await RedisClusterFixture.StartClusterAsync(redis, prefix, silos: 1);
        try
        {
            var settings = RedisClusterFixture.StandaloneGatewaySettings(redis, prefix, cluster, new Dictionary<string, string?>
            {
                ["Gateway:GrpcPort"] = RedisServer.FreePort().ToString(CultureInfo.InvariantCulture),
            });
            await using var gateway = await GatewayHost.StartAsync(settings);
            using var channel = GrpcChannel.ForAddress(gateway.GrpcAddress!);
            var health = new Health.HealthClient(channel);
            async Task<(HealthCheckResponse.Types.ServingStatus Server, HealthCheckResponse.Types.ServingStatus Service)> StatusAsync()
                => ((await health.CheckAsync(new HealthCheckRequest(), cancellationToken: Ct)).Status,
                    (await health.CheckAsync(new HealthCheckRequest { Service = "envoy.service.ratelimit.v3.RateLimitService" }, cancellationToken: Ct)).Status);
            const HealthCheckResponse.Types.ServingStatus Serving = HealthCheckResponse.Types.ServingStatus.Serving;
            const HealthCheckResponse.Types.ServingStatus NotServing = HealthCheckResponse.Types.ServingStatus.NotServing;

            await Wait.UntilAsync(async () => await StatusAsync() == (Serving, Serving), TimeSpan.FromSeconds(30),
                "SERVING once the gateway received the fleet's domains");

            await cluster.StopAllSilosAsync(Ct); // the cluster is gone; Redis counters still decide (fallback)
            var inFallback = await StatusAsync();
            await redis.KillAsync(); // now nothing can count
            await Wait.UntilAsync(async () => await StatusAsync() == (NotServing, NotServing), TimeSpan.FromSeconds(30),
                "NOT_SERVING for the server and the rate-limit service once neither the cluster nor Redis answers");

            Assert.Equal((Serving, Serving), inFallback);
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task SiloHoldingTheDomainsKilled_ChangesStillReachEveryGateway()
    {
        await using var redis = await RedisServer.StartAsync();
        var prefix = TestKeys.Prefix("fleet");
        var cluster = await RedisClusterFixture.StartClusterAsync(redis, prefix, silos: 2);
        try
        {
            var settings = RedisClusterFixture.StandaloneGatewaySettings(redis, prefix, cluster);
            await using var a = await GatewayHost.StartAsync(settings);
            await using var b = await GatewayHost.StartAsync(settings);
            using var clientA = a.CreateClient(null);
            using var adminB = b.CreateClient(null);
            var domain = "after-kill";
            var put = await adminB.SendAsync(FleetDomainsApiTests.Put($"/v1/ratelimit/domains/{domain}",
                $"domain: {domain}\ndescriptors:\n  - key: k\n    rate_limit: {{unit: hour, requests_per_unit: 0}}\n", "application/yaml"), Ct);
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            await Wait.UntilAsync(async () => await FleetDomainsApiTests.DecideAsync(clientA, domain, "k", "v") == "OVER_LIMIT", TimeSpan.FromSeconds(5),
                "gateway A to enforce the domain before the kill");

            var grain = cluster.Client.GetGrain<Orleans.Coordinator.Grains.Interfaces.Tenants.IRateLimitDomainsGrain>(Orleans.Coordinator.Grains.Interfaces.GrainKeys.RateLimitDomains);
            var address = await cluster.Client.GetGrain<IManagementGrain>(0).GetActivationAddress(grain, Ct);
            var host = cluster.Silos.Single(s => s.SiloAddress.Equals(address));
            await cluster.KillSiloAsync(host, Ct); // the silo that held every gateway's waiting watch

            HttpResponseMessage? deleted = null;
            await Wait.UntilAsync(async () => (deleted = await adminB.DeleteAsync($"/v1/ratelimit/domains/{domain}", Ct)).StatusCode == HttpStatusCode.NoContent,
                TimeSpan.FromSeconds(60), "the delete through gateway B to succeed once the domains' grain is back on the other silo");
            var watch = Stopwatch.StartNew();
            await Wait.UntilAsync(async () => await FleetDomainsApiTests.DecideAsync(clientA, domain, "k", "v") == "OK", TimeSpan.FromSeconds(10),
                "gateway A to drop the deleted domain after its watch moved to the new activation");
            output.WriteLine($"gateway A applied the delete {watch.ElapsedMilliseconds} ms after it was answered, the grain's silo killed");
        }
        finally
        {
            await cluster.StopAllSilosAsync(CancellationToken.None);
            await cluster.DisposeAsync();
        }
    }
}
