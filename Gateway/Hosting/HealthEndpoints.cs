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

/// <summary>The body of <c>/readyz</c>.</summary>
public sealed record ReadinessReport(string Status, string Mode, IReadOnlyList<ReadinessResult> Checks);

/// <summary><c>/healthz</c> (the process is alive) and <c>/readyz</c> (its dependencies answer).</summary>
public static class HealthEndpoints
{
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Maps both endpoints, anonymous. <paramref name="mode"/> is reported by <c>/readyz</c>.</summary>
    public static void MapCoordinatorHealth(this IEndpointRouteBuilder app, string mode)
    {
        app.MapGet("/healthz", () => TypedResults.Ok(new { status = "ok" }))
            .AllowAnonymous().WithTags("Health").WithName("Healthz").WithSummary("The process is alive.");

        app.MapGet("/readyz", async (IEnumerable<IReadinessCheck> checks, CancellationToken ct) =>
            {
                var results = await Task.WhenAll(checks.Select(c => RunAsync(c, ct)));
                var ready = results.All(r => r.Ready);
                var report = new ReadinessReport(ready ? "ready" : "not-ready", mode, results);
                return TypedResults.Json(report, statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
            })
            .AllowAnonymous().WithTags("Health").WithName("Readyz").WithSummary("The cluster and Redis answer; reports the mode.");
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

    private static double Elapsed(long started) => Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 2);
}
