using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Coordinator.Grains.Interfaces;

namespace Orleans.Coordinator.Hosting;

/// <summary>
/// Metrics (the product Meter, Orleans and ASP.NET Core) in Prometheus format at <c>/metrics</c>, and traces
/// (HTTP request, grain call, Redis command in one trace); both also over OTLP when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
/// </summary>
public static class CoordinatorTelemetry
{
    /// <summary>Registers metrics and tracing for a Silo or Gateway process.</summary>
    public static void AddCoordinatorTelemetry(this WebApplicationBuilder builder, string serviceName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(CoordinatorDiagnostics.Name, "Microsoft.Orleans", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
                    .AddPrometheusExporter();
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });

        // Spans are recorded only when there is somewhere to send them: a listener that samples every grain
        // call and request costs about half of a silo's throughput (docs/performance.md). Sampling follows
        // OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (default: every trace).
        if (otlp)
        {
            var peer = builder.Configuration["Redis:ServiceName"] is { Length: > 0 } name ? name : "redis";
            telemetry.WithTracing(tracing => tracing
                .AddSource(CoordinatorDiagnostics.Name, "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application")
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !IsProbe(context.Request.Path))
                .AddCoordinatorRedisInstrumentation(peer)
                .AddOtlpExporter());
        }
    }

    /// <summary>
    /// Redis client spans from <c>OpenTelemetry.Instrumentation.StackExchangeRedis</c>, with <c>peer.service</c> set to
    /// <paramref name="peerService"/> (<c>Redis:ServiceName</c>): over the gateway's multiplexer (from DI) and the
    /// silo's shared connection (<see cref="Grains.Infrastructure.CoordinatorRedis"/>), registered once it is connected.
    /// </summary>
    public static TracerProviderBuilder AddCoordinatorRedisInstrumentation(this TracerProviderBuilder tracing, string peerService)
        => tracing
            .AddRedisInstrumentation(o => o.Enrich = (activity, _) => activity.SetTag("peer.service", peerService))
            .ConfigureRedisInstrumentation((services, instrumentation) =>
            {
                if (services.GetService<Grains.Infrastructure.CoordinatorRedis>() is { } redis)
                {
                    redis.WhenConnected(multiplexer => instrumentation.AddConnection(multiplexer));
                }
            });

    /// <summary>Serves <c>/metrics</c> (anonymous, like the health probes: it carries no user, key or token values).</summary>
    public static void MapCoordinatorMetrics(this IEndpointRouteBuilder app)
        => app.MapPrometheusScrapingEndpoint("/metrics").AllowAnonymous();

    private static bool IsProbe(PathString path)
        => path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz") || path.StartsWithSegments("/metrics");
}
