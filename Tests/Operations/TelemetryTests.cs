using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Operations;

[Collection(EmbeddedGatewayCollection.Name)]
public sealed class MetricsTests(EmbeddedGatewayFixture fixture)
{
    [Fact]
    public async Task Metrics_PrometheusFormat_CountsDecisionsByFeatureAndOutcome_WithoutCallerValues()
    {
        var user = TestKeys.User("metrics-secret-user");
        await fixture.Client.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p" });
        using var anonymous = fixture.Gateway.CreateClient();

        // The exporter collects on scrape; a decision made just before may land in the next scrape.
        var text = string.Empty;
        await Wait.UntilAsync(async () =>
        {
            var response = await anonymous.GetAsync("/metrics", TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            return text.Contains("coordinator_decisions", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(15), "/metrics to show coordinator_decisions");

        Assert.Contains("feature=\"leases\"", text, StringComparison.Ordinal);
        Assert.Contains("outcome=\"allowed\"", text, StringComparison.Ordinal);
        Assert.Contains("http_server_request_duration", text, StringComparison.Ordinal);
        Assert.DoesNotContain(user, text, StringComparison.Ordinal);
        Assert.DoesNotContain(GatewayHost.ClientToken, text, StringComparison.Ordinal);
    }
}

[Collection(RedisClusterCollection.Name)]
public sealed class TracingTests(RedisClusterFixture fixture)
{
    [Fact(Timeout = 120_000)]
    public async Task GatewayRequest_GrainCall_AndRedisCommand_AreOneTrace()
    {
        // Arrange: an in-memory exporter listening to every source in this process (gateway and silos), with the
        // product's Redis client instrumentation over the silos' shared connections (already connected here).
        var spans = new List<Activity>();
        var silos = fixture.Cluster.Silos.OfType<Orleans.TestingHost.InProcessSiloHandle>()
            .Select(s => s.SiloHost.Services.GetRequiredService<Orleans.Coordinator.Grains.Infrastructure.CoordinatorRedis>()).ToList();
        using var tracer = Sdk.CreateTracerProviderBuilder()
            .AddSource(CoordinatorDiagnostics.Name, "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application", "Microsoft.AspNetCore")
            .AddCoordinatorRedisInstrumentation("redis")
            .ConfigureRedisInstrumentation(instrumentation => silos.ForEach(redis => redis.WhenConnected(connection => instrumentation.AddConnection(connection)))) // connected already: at once
            .AddInMemoryExporter(spans)
            .Build();
        await using var gateway = await GatewayHost.StartAsync(fixture.GatewaySettings());
        using var http = gateway.CreateClient(GatewayHost.ClientToken);
        var identifier = TestKeys.Identifier("trace");

        // Act: a lookup nobody cached yet reads the route string from Redis.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/v1/mappings/{identifier}", TestContext.Current.CancellationToken)).StatusCode);
        await Wait.UntilAsync(() =>
        {
            tracer.ForceFlush();
            lock (spans)
            {
                return spans.Any(s => IsRedisGet(s) && FromARequest(spans, s));
            }
        }, TimeSpan.FromSeconds(25), "the Redis span of the mapping lookup to be exported (the instrumentation drains commands every 10 s at most)");

        // Assert: walk from the Redis span to the root: the grain call and the HTTP request are its ancestors.
        List<Activity> all;
        lock (spans)
        {
            all = [.. spans];
        }

        // The gateway's warm-up makes its own mapping lookup at start: take the one made for the HTTP request.
        var redis = all.Last(s => IsRedisGet(s) && FromARequest(all, s));
        Assert.Equal("redis", redis.GetTagItem("peer.service"));
        var chain = new List<Activity> { redis };
        for (var current = redis; current.ParentSpanId != default;)
        {
            var parent = all.FirstOrDefault(s => s.SpanId == current.ParentSpanId && s.TraceId == current.TraceId);
            if (parent is null)
            {
                break;
            }

            chain.Add(parent);
            current = parent;
        }

        var names = string.Join(" <- ", chain.Select(s => $"{s.Source.Name}:{s.DisplayName}"));
        Assert.All(chain, s => Assert.Equal(redis.TraceId, s.TraceId));
        Assert.Contains(chain, s => s.Source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal));
        Assert.True(chain[^1].Source.Name == "Microsoft.AspNetCore" && chain[^1].Kind == ActivityKind.Server, $"the root should be the gateway's HTTP request: {names}");
    }

    /// <summary>A GET span of OpenTelemetry's StackExchange.Redis instrumentation.</summary>
    private static bool IsRedisGet(Activity span)
        => span.Source.Name == "OpenTelemetry.Instrumentation.StackExchangeRedis" && span.DisplayName == "GET";

    private static bool FromARequest(List<Activity> spans, Activity span)
        => spans.Any(r => r.TraceId == span.TraceId && r.Source.Name == "Microsoft.AspNetCore" && r.Kind == ActivityKind.Server);
}
