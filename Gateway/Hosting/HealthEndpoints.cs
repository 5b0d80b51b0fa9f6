using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Orleans.Coordinator.Hosting;

/// <summary>The outcome of one readiness check.</summary>
/// <param name="Name">What was checked (<c>cluster</c>, <c>redis</c>).</param>
/// <param name="Ready">True when it answered in time.</param>
/// <param name="LatencyMs">How long it took.</param>
/// <param name="Detail">A short, secret-free description.</param>
public sealed record ReadinessResult(string Name, bool Ready, double LatencyMs, string Detail);

/// <summary>The gateway's failure mode and breaker states, when it has them (silos do not).</summary>
public interface IResilienceReport
{
    /// <summary>
    /// <c>normal</c>, <c>fallback</c> or <c>degraded</c>, from the breakers and from whether the cluster and Redis
    /// answered the readiness checks just now.
    /// </summary>
    string ModeWith(bool clusterAnswered, bool redisAnswered);

    /// <summary>Each dependency's breaker: <c>Closed</c>, <c>HalfOpen</c> or <c>Open</c>.</summary>
    IReadOnlyDictionary<string, string> Breakers { get; }
}

/// <summary>What <c>/readyz</c> says of the Envoy rate-limit rules (gateways only).</summary>
public interface IRateLimitRulesReport
{
    /// <summary>The rules in force, and why the last reload failed when it did.</summary>
    string Describe();
}

/// <summary>The body of <c>/readyz</c>.</summary>
/// <param name="Status"><c>ready</c> or <c>not-ready</c>.</param>
/// <param name="Deployment"><c>embedded</c>, <c>cluster</c> or <c>silo</c>.</param>
/// <param name="Mode"><c>normal</c>, <c>fallback</c> (the cluster is down; Redis counters enforce) or <c>degraded</c> (Redis is down: fail-closed features refuse, fail-open ones allow).</param>
/// <param name="Breakers">Circuit breaker states by dependency (empty where there are none).</param>
/// <param name="Checks">Each dependency's reachability and latency.</param>
/// <param name="RateLimitRules">The Envoy rate-limit rules in force, and why the last reload failed when it did.</param>
public sealed record ReadinessReport(string Status, string Deployment, string Mode, IReadOnlyDictionary<string, string> Breakers, IReadOnlyList<ReadinessResult> Checks, string? RateLimitRules = null);

/// <summary>
/// <c>/healthz</c> (the process is alive) and <c>/readyz</c> (its dependencies answer), served by ASP.NET Core health
/// checks: each dependency is an <see cref="IHealthCheck"/> tagged <see cref="ReadyTag"/> (2 s timeout), mapped with
/// <c>MapHealthChecks</c> and written as <see cref="ReadinessReport"/>. The same checks run every 10 s through
/// <see cref="ReadinessGauges"/>, so Prometheus sees <c>coordinator_ready</c> and <c>coordinator_dependency_ready</c>.
/// </summary>
public static class HealthEndpoints
{
    /// <summary>The tag of the checks <c>/readyz</c> runs.</summary>
    public const string ReadyTag = "ready";

    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Registers <typeparamref name="TCheck"/> as a dependency <c>/readyz</c> checks, named <paramref name="name"/> (<c>cluster</c>, <c>redis</c>).</summary>
    public static IServiceCollection AddReadinessCheck<TCheck>(this IServiceCollection services, string name)
        where TCheck : class, IHealthCheck
    {
        services.TryAddSingleton<TCheck>();
        services.AddHealthChecks().Add(new HealthCheckRegistration(name, sp => sp.GetRequiredService<TCheck>(), HealthStatus.Unhealthy, [ReadyTag], CheckTimeout));
        return services;
    }

    /// <summary>Runs the checks every 10 s (after 2 s) into the readiness gauges.</summary>
    public static IServiceCollection AddReadinessGauges(this IServiceCollection services)
    {
        services.Configure<HealthCheckPublisherOptions>(o => (o.Delay, o.Period) = (TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10)));
        services.AddSingleton<IHealthCheckPublisher, ReadinessGauges>();
        return services;
    }

    /// <summary>
    /// Maps both endpoints, anonymous. <c>/readyz</c> fails while any dependency does not answer (the fail-hard
    /// features need both the cluster and Redis); <c>/readyz?scope=data-plane</c> only while neither does (the
    /// fallback can still enforce limits). <paramref name="deployment"/> is reported as is.
    /// </summary>
    public static void MapCoordinatorHealth(this IEndpointRouteBuilder app, string deployment)
    {
        app.MapHealthChecks("/healthz", new HealthCheckOptions
            {
                Predicate = _ => false, // alive: no dependency is asked
                ResponseWriter = (context, _) => context.Response.WriteAsJsonAsync(new { status = "ok" }),
            })
            .AllowAnonymous().WithDisplayName("Healthz");

        app.MapHealthChecks("/readyz", new HealthCheckOptions
            {
                Predicate = r => r.Tags.Contains(ReadyTag),
                ResponseWriter = (context, report) => WriteReadinessAsync(context, report, deployment),
            })
            .AllowAnonymous().WithDisplayName("Readyz");
    }

    /// <summary>Our JSON body of <c>/readyz</c>, and its status (200 ready, 503 not) for the requested scope.</summary>
    private static Task WriteReadinessAsync(HttpContext context, HealthReport report, string deployment)
    {
        var results = report.Entries.Select(e => new ReadinessResult(
            e.Key,
            e.Value.Status == HealthStatus.Healthy,
            Math.Round(e.Value.Duration.TotalMilliseconds, 2),
            e.Value.Status == HealthStatus.Healthy ? e.Value.Description ?? "" : Why(e.Value))).ToList();
        var ready = context.Request.Query["scope"] == "data-plane" ? results.Count == 0 || results.Any(r => r.Ready) : results.All(r => r.Ready);
        var services = context.RequestServices;
        var resilience = services.GetService<IResilienceReport>();
        var body = new ReadinessReport(
            ready ? "ready" : "not-ready",
            deployment,
            resilience?.ModeWith(Answered(results, "cluster"), Answered(results, "redis")) ?? "normal",
            resilience?.Breakers ?? new Dictionary<string, string>(),
            results,
            services.GetService<IRateLimitRulesReport>()?.Describe());
        context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        return context.Response.WriteAsJsonAsync(body);
    }

    /// <summary>Why a check failed, without secrets: its description, or the exception's type, or the timeout.</summary>
    private static string Why(HealthReportEntry entry) => entry.Exception switch
    {
        OperationCanceledException => $"no answer within {CheckTimeout.TotalSeconds:0} s",
        { } ex when entry.Description is null or "" || entry.Description == ex.Message => ex.GetType().Name,
        _ => entry.Description ?? "not ready",
    };

    private static bool Answered(IReadOnlyList<ReadinessResult> results, string name) => results.All(r => r.Name != name || r.Ready);
}

/// <summary>
/// Publishes each periodic run of the readiness checks as gauges: <c>coordinator.ready</c> (1 when every check passed,
/// 0 otherwise: what <c>/readyz</c> would answer) and <c>coordinator.dependency.ready</c> by <c>check</c>.
/// </summary>
internal sealed class ReadinessGauges : IHealthCheckPublisher
{
    private static HealthReport? _last;

    static ReadinessGauges()
    {
        Orleans.Coordinator.Grains.Interfaces.CoordinatorDiagnostics.Meter.CreateObservableGauge("coordinator.ready", () =>
            Volatile.Read(ref _last) is { } report ? [new Measurement<int>(Ready(report).All(e => e.Value) ? 1 : 0)] : Array.Empty<Measurement<int>>(),
            "{ready}", "1 when every readiness check passed in the last run (what /readyz answers), 0 otherwise.");
        Orleans.Coordinator.Grains.Interfaces.CoordinatorDiagnostics.Meter.CreateObservableGauge("coordinator.dependency.ready", () =>
            Volatile.Read(ref _last) is { } report
                ? Ready(report).Select(e => new Measurement<int>(e.Value ? 1 : 0, new KeyValuePair<string, object?>("check", e.Key)))
                : [],
            "{ready}", "1 when the dependency's readiness check passed in the last run, 0 otherwise, by check.");
    }

    public Task PublishAsync(HealthReport report, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _last, report);
        return Task.CompletedTask;
    }

    private static IEnumerable<KeyValuePair<string, bool>> Ready(HealthReport report)
        => report.Entries.Where(e => e.Value.Tags.Contains(HealthEndpoints.ReadyTag))
            .Select(e => new KeyValuePair<string, bool>(e.Key, e.Value.Status == HealthStatus.Healthy));
}
