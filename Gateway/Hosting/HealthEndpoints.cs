using System.Diagnostics;

namespace Orleans.Coordinator.Hosting;

/// <summary>The outcome of one readiness check.</summary>
/// <param name="Name">What was checked (<c>cluster</c>, <c>redis</c>).</param>
/// <param name="Ready">True when it answered in time.</param>
/// <param name="LatencyMs">How long it took.</param>
/// <param name="Detail">A short, secret-free description.</param>
public sealed record ReadinessResult(string Name, bool Ready, double LatencyMs, string Detail);

/// <summary>One dependency <c>/readyz</c> checks.</summary>
public interface IReadinessCheck
{
    /// <summary>The check's name in the report.</summary>
    string Name { get; }

    /// <summary>Checks the dependency; throwing counts as not ready.</summary>
    Task<string> CheckAsync(CancellationToken cancellationToken);
}

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

/// <summary><c>/healthz</c> (the process is alive) and <c>/readyz</c> (its dependencies answer).</summary>
public static class HealthEndpoints
{
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Maps both endpoints, anonymous. <c>/readyz</c> fails while any dependency does not answer (the fail-hard
    /// features need both the cluster and Redis); <c>/readyz?scope=data-plane</c> only while neither does (the
    /// fallback can still enforce limits). <paramref name="deployment"/> is reported as is.
    /// </summary>
    public static void MapCoordinatorHealth(this IEndpointRouteBuilder app, string deployment)
    {
        app.MapGet("/healthz", () => TypedResults.Ok(new { status = "ok" }))
            .AllowAnonymous().WithTags("Health").WithName("Healthz").WithSummary("The process is alive.");

        app.MapGet("/readyz", async (IEnumerable<IReadinessCheck> checks, IServiceProvider services, string? scope, CancellationToken ct) =>
            {
                var results = await Task.WhenAll(checks.Select(c => RunAsync(c, ct)));
                var ready = scope == "data-plane" ? results.Length == 0 || results.Any(r => r.Ready) : results.All(r => r.Ready);
                var resilience = services.GetService<IResilienceReport>();
                var report = new ReadinessReport(
                    ready ? "ready" : "not-ready",
                    deployment,
                    resilience?.ModeWith(Answered(results, "cluster"), Answered(results, "redis")) ?? "normal",
                    resilience?.Breakers ?? new Dictionary<string, string>(),
                    results,
                    services.GetService<IRateLimitRulesReport>()?.Describe());
                return TypedResults.Json(report, statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
            })
            .AllowAnonymous().WithTags("Health").WithName("Readyz").WithSummary("The cluster and Redis answer; reports the mode, the breakers and each dependency's latency.");
    }

    private static async Task<ReadinessResult> RunAsync(IReadinessCheck check, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(CheckTimeout);
            var detail = await check.CheckAsync(timeout.Token).WaitAsync(timeout.Token);
            return new ReadinessResult(check.Name, true, Elapsed(started), detail);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new ReadinessResult(check.Name, false, Elapsed(started), $"no answer within {CheckTimeout.TotalSeconds:0} s");
        }
        catch (Exception ex)
        {
            return new ReadinessResult(check.Name, false, Elapsed(started), ex.GetType().Name);
        }
    }

    private static bool Answered(ReadinessResult[] results, string name) => results.All(r => r.Name != name || r.Ready);

    private static double Elapsed(long started) => Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 2);
}
