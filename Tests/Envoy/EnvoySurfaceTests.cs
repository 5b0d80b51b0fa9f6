using System.Net;
using System.Text.Json;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using Orleans.Coordinator.Envoy.RateLimit;
using Orleans.Coordinator.Envoy.RateLimit.Common;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Envoy;

/// <summary>Around the gRPC service: response headers, the HTTP <c>/json</c> endpoint, the config dump, server reflection.</summary>
public sealed class EnvoySurfaceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 60_000)]
    public async Task Headers_Json_Dump_AndReflection()
    {
        var file = Path.Combine(Path.GetTempPath(), $"rls-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, """
            domain: web
            descriptors:
              - key: user
                rate_limit: {name: per-user, unit: minute, requests_per_unit: 2}
              - key: ip
                detailed_metric: true
                rate_limit: {unit: hour, requests_per_unit: 100}
            """, Ct);
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:GrpcPort"] = RedisServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RateLimit:ConfigPath"] = file,
            ["RateLimit:ResponseHeaders"] = "true",
            ["Auth:AdminTokens:0"] = GatewayHost.AdminToken,
            ["Auth:ClientTokens:0"] = GatewayHost.ClientToken,
        });
        using var channel = GrpcChannel.ForAddress(gateway.GrpcAddress!);
        var token = new Grpc.Core.Metadata { { "authorization", $"Bearer {GatewayHost.ClientToken}" } };
        using var client = gateway.CreateClient(GatewayHost.ClientToken);
        using var admin = gateway.CreateClient(GatewayHost.AdminToken);
        try
        {
            // Response headers: the tightest status (user: 2 per minute) beside a looser one (ip: 100 per hour).
            var request = new RateLimitRequest { Domain = "web" };
            request.Descriptors.Add(Entry("user", "ann"));
            request.Descriptors.Add(Entry("ip", "10.1.1.1"));
            var grpc = await new RateLimitService.RateLimitServiceClient(channel).ShouldRateLimitAsync(request, token, cancellationToken: Ct);
            var headers = grpc.ResponseHeadersToAdd.ToDictionary(h => h.Key, h => h.Value);

            // POST /json: proto3 JSON in and out; 200 while OK, 429 once over.
            const string Json = """{"domain":"web","descriptors":[{"entries":[{"key":"user","value":"ann"}]}]}""";
            var second = await client.PostAsync("/json", new StringContent(Json, System.Text.Encoding.UTF8, "application/json"), Ct);
            var third = await client.PostAsync("/json", new StringContent(Json, System.Text.Encoding.UTF8, "application/json"), Ct);
            using var secondBody = JsonDocument.Parse(await second.Content.ReadAsStringAsync(Ct));
            using var thirdBody = JsonDocument.Parse(await third.Content.ReadAsStringAsync(Ct));
            var notJson = await client.PostAsync("/json", new StringContent("{\"domain\": 3", System.Text.Encoding.UTF8, "application/json"), Ct);
            var noDomain = await client.PostAsync("/json", new StringContent("""{"descriptors":[{"entries":[{"key":"user","value":"x"}]}]}""", System.Text.Encoding.UTF8, "application/json"), Ct);
            var anonymous = await gateway.CreateClient(null).PostAsync("/json", new StringContent(Json, System.Text.Encoding.UTF8, "application/json"), Ct);

            // The config dump (admin) and server reflection (grpcurl without proto files).
            var dump = await admin.GetStringAsync("/rlconfig", Ct);
            var dumpByClient = await client.GetAsync("/rlconfig", Ct);
            var reflection = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo(cancellationToken: Ct);
            await reflection.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }, Ct);
            await reflection.RequestStream.CompleteAsync();
            Assert.True(await reflection.ResponseStream.MoveNext(Ct));
            var services = reflection.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();

            Assert.Equal("2, 2;w=60", headers["x-ratelimit-limit"]);
            Assert.Equal("1", headers["x-ratelimit-remaining"]);
            Assert.InRange(int.Parse(headers["x-ratelimit-reset"], System.Globalization.CultureInfo.InvariantCulture), 0, 60);
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
            Assert.Equal("OK", secondBody.RootElement.GetProperty("overallCode").GetString());
            Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
            Assert.Equal("OVER_LIMIT", thirdBody.RootElement.GetProperty("overallCode").GetString());
            await notJson.AssertBadFieldAsync("body");
            await noDomain.AssertBadFieldAsync("domain");
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Contains("web.user: 2 per minute, name per-user", dump, StringComparison.Ordinal);
            Assert.Contains("web.ip: 100 per hour, detailed_metric", dump, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.Forbidden, dumpByClient.StatusCode);
            Assert.Contains("envoy.service.ratelimit.v3.RateLimitService", services);

            // Per-rule statistics on /metrics: user had 3 hits (2 within, the second near the limit, 1 over); ip's rule
            // has detailed_metric, so its descriptor's values are a label.
            string metrics = "";
            await Wait.UntilAsync(async () =>
            {
                metrics = await gateway.CreateClient(null).GetStringAsync("/metrics", Ct);
                return Value(metrics, "coordinator_ratelimit_total_hits_total", "rule=\"user\"") == 3;
            }, TimeSpan.FromSeconds(15), "the user rule's total_hits (3) on /metrics");
            Assert.Equal(2, Value(metrics, "coordinator_ratelimit_within_limit_total", "rule=\"user\""));
            Assert.Equal(1, Value(metrics, "coordinator_ratelimit_near_limit_total", "rule=\"user\""));
            Assert.Equal(1, Value(metrics, "coordinator_ratelimit_over_limit_total", "rule=\"user\""));
            Assert.Equal(1, Value(metrics, "coordinator_ratelimit_total_hits_total", "descriptor=\"ip_10.1.1.1\""));
            Assert.DoesNotContain("descriptor=\"user_ann\"", metrics, StringComparison.Ordinal); // no detailed_metric: no values
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>The value of the first sample of <paramref name="name"/> whose labels hold <paramref name="label"/> (-1: none).</summary>
    private static double Value(string metrics, string name, string label)
    {
        foreach (var line in metrics.Split('\n'))
        {
            if (line.StartsWith(name + "{", StringComparison.Ordinal) && line.Contains(label, StringComparison.Ordinal) && line.Contains("domain=\"web\"", StringComparison.Ordinal))
            {
                return double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }

    private static RateLimitDescriptor Entry(string key, string value)
    {
        var descriptor = new RateLimitDescriptor();
        descriptor.Entries.Add(new RateLimitDescriptor.Types.Entry { Key = key, Value = value });
        return descriptor;
    }
}
