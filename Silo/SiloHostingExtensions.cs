using Microsoft.Extensions.Diagnostics.HealthChecks;
using System.Diagnostics;
using Orleans.Configuration;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Hosting;
using Orleans.Dashboard;
using Orleans.Runtime;

namespace Orleans.Coordinator.Silo;

/// <summary>Composition of a silo process.</summary>
public static class SiloHostingExtensions
{
    /// <summary>
    /// Adds the silo (coordinator grains, Redis membership and storage, endpoints from the <c>Orleans</c>
    /// section, dashboard) and its HTTP side (health, problem details, admin-token auth).
    /// </summary>
    public static WebApplicationBuilder AddCoordinatorSilo(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var redis = builder.Configuration.GetSection(CoordinatorRedisOptions.SectionName).Get<CoordinatorRedisOptions>() ?? new();
        if (!redis.IsConfigured)
        {
            throw new InvalidOperationException(
                "A silo runs in cluster mode and needs Redis:ConnectionString (e.g. Redis__ConnectionString=127.0.0.1:6379). " +
                "For one process without Redis, run the Gateway alone: dotnet run --project Gateway.");
        }

        var cluster = builder.Configuration.GetSection(CoordinatorClusterOptions.SectionName).Get<CoordinatorClusterOptions>() ?? new();
        var problems = cluster.Validate().Concat(redis.Validate()).ToList();
        if (problems.Count > 0)
        {
            throw new InvalidOperationException(string.Join(" ", problems));
        }

        builder.UseOrleans(silo =>
        {
            silo.AddCoordinator()
                .Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (cluster.ClusterId, cluster.ServiceId))
                .ConfigureEndpoints(cluster.AdvertisedAddress, cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: false)
                .AddDashboard();

            // In a Kubernetes pod, take the pod's IP, cluster and service ids from the environment the
            // manifests set (deploy/kubernetes), and let Orleans' agent remove pods of dead silos.
            if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST")))
            {
                silo.UseKubernetesHosting();
            }
        });

        var services = builder.Services;
        services.AddProblemDetails(o => o.CustomizeProblemDetails = context =>
            context.ProblemDetails.Extensions["traceId"] = Activity.Current?.Id ?? context.HttpContext.TraceIdentifier);
        services.AddExceptionHandler<ExceptionProblemHandler>();
        services.AddReadinessCheck<SiloMembershipCheck>("cluster");
        services.AddReadinessCheck<SiloRedisCheck>("redis");
        services.AddReadinessGauges();
        services.AddHostedService<ClusterSilosGauge>();
        builder.AddCoordinatorAuthentication(allowAnonymousWithoutTokens: false, "a silo (its dashboard needs the admin token)");
        builder.AddCoordinatorTelemetry("orleans-coordinator-silo");
        return builder;
    }

    /// <summary>Every address the silo will listen on, with the setting that names it (for <see cref="StartupPreflight"/>).</summary>
    public static IEnumerable<(string Setting, string Host, int Port)> Listens(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var cluster = configuration.GetSection(CoordinatorClusterOptions.SectionName).Get<CoordinatorClusterOptions>() ?? new();
        foreach (var (host, port) in StartupPreflight.ParseUrls(configuration["urls"]))
        {
            yield return ("urls", host, port);
        }

        yield return ("Orleans:SiloPort", cluster.AdvertisedIPAddress, cluster.SiloPort);
        yield return ("Orleans:GatewayPort", cluster.AdvertisedIPAddress, cluster.GatewayPort);
    }

    /// <summary>Maps health, readiness and the dashboard (admin token).</summary>
    public static WebApplication MapCoordinatorSilo(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseExceptionHandler();
        app.UseStatusCodePages(context => ProblemResponses.WriteAsync(context.HttpContext, ProblemResponses.ForStatusCode(context.HttpContext.Response.StatusCode)));
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapCoordinatorHealth("silo");
        app.MapCoordinatorMetrics();
        app.MapOrleansDashboard(routePrefix: "/dashboard").RequireAuthorization(CoordinatorPolicies.Admin);
        return app;
    }

    /// <summary>
    /// <c>coordinator.cluster.silos</c>: the active silos in this silo's membership view, for the "fewer silos than
    /// expected" alert (deploy/observability/alerts.yaml).
    /// </summary>
    private sealed class ClusterSilosGauge(IClusterMembershipService membership) : IHostedService
    {
        private static IClusterMembershipService? _membership;

        static ClusterSilosGauge() => Orleans.Coordinator.Grains.Interfaces.CoordinatorDiagnostics.Meter.CreateObservableGauge("coordinator.cluster.silos",
            () => Volatile.Read(ref _membership) is { } m
                ? [new System.Diagnostics.Metrics.Measurement<int>(m.CurrentSnapshot.Members.Values.Count(s => s.Status == SiloStatus.Active))]
                : Array.Empty<System.Diagnostics.Metrics.Measurement<int>>(),
            "{silo}", "Active silos in this silo's view of the cluster membership.");

        public Task StartAsync(CancellationToken cancellationToken)
        {
            Volatile.Write(ref _membership, membership);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            Interlocked.CompareExchange(ref _membership, null, membership); // a stopped silo reports nothing
            return Task.CompletedTask;
        }
    }

    /// <summary>Readiness (<c>cluster</c>): this silo is an active member of the cluster.</summary>
    private sealed class SiloMembershipCheck(IClusterMembershipService membership, ILocalSiloDetails local) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var snapshot = membership.CurrentSnapshot;
            var status = snapshot.GetSiloStatus(local.SiloAddress);
            var active = snapshot.Members.Values.Count(m => m.Status == SiloStatus.Active);
            return Task.FromResult(status == SiloStatus.Active
                ? HealthCheckResult.Healthy($"active; {active} active silo(s)")
                : HealthCheckResult.Unhealthy($"silo is {status}"));
        }
    }

    /// <summary>Readiness (<c>redis</c>): the silo's shared Redis connection answers PING.</summary>
    private sealed class SiloRedisCheck(CoordinatorRedis redis) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var db = await redis.GetDatabaseAsync().WaitAsync(cancellationToken);
            var latency = await db.PingAsync().WaitAsync(cancellationToken);
            return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:0.##} ms");
        }
    }
}
