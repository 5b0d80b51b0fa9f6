using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Envoy;

/// <summary>
/// Keeps this gateway's copy of the fleet's rate-limit domains: one <see cref="IRateLimitDomainsGrain.WatchAsync"/>
/// call is always waiting at the grain, which answers it as soon as a change is persisted (pushed, so every gateway
/// applies a change within milliseconds, and no request ever waits on it). A failed call (the silo died, the cluster is
/// unreachable) is retried after 250 ms, doubling to 2 s; the retry reaches the grain's new activation, which reads the
/// domains from storage, so no change is missed. A watch caught on a silo that died would only fail at its timeout, so
/// the Orleans client's gateway-count handler calls <see cref="Restart"/> when a silo connection drops.
/// </summary>
internal sealed partial class RateLimitDomainsWatcher(
    EnvoyRateLimitRules rules, IGrainFactory grains, IOptions<CoordinatorClusterOptions> cluster, IHostApplicationLifetime lifetime,
    ILogger<RateLimitDomainsWatcher> logger) : BackgroundService
{
    /// <summary>How long one watch waits at the grain before it is renewed.</summary>
    internal static readonly TimeSpan WatchWait = TimeSpan.FromSeconds(10);

    private CancellationTokenSource _restart = new();

    /// <summary>Abandons the waiting watch and starts a new one at once (a silo connection dropped: the watch may be on it).</summary>
    public void Restart() => Interlocked.Exchange(ref _restart, new CancellationTokenSource()).Cancel();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Once the host has started: an embedded gateway's silo is up by then (a call before it would only be refused).
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            try
            {
                await started.Task.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        var known = -1L; // the first watch answers at once with whatever is stored
        var backoff = TimeSpan.FromMilliseconds(250);
        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            using var watch = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, Volatile.Read(ref _restart).Token);
            try
            {
                var set = await grains.GetGrain<IRateLimitDomainsGrain>(GrainKeys.RateLimitDomains)
                    .WatchAsync(known, WatchWait)
                    .WaitAsync(WatchWait + cluster.Value.ResponseTimeout, watch.Token);
                if (set is not null)
                {
                    rules.ApplyFleet(set);
                    known = set.Revision;
                }

                if (failing)
                {
                    LogResumed(logger, known);
                }

                (failing, backoff) = (false, TimeSpan.FromMilliseconds(250));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException) when (watch.IsCancellationRequested)
            {
                LogRestarted(logger, known); // Restart: watch again at once
            }
            catch (Exception ex)
            {
                if (!failing)
                {
                    LogFailing(logger, ex.GetType().Name, ex.Message);
                }

                failing = true;
                try
                {
                    await Task.Delay(backoff, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot watch the fleet's rate-limit domains ({Error}: {Message}); the rules in force stay, retrying")]
    private static partial void LogFailing(ILogger logger, string error, string message);

    [LoggerMessage(Level = LogLevel.Debug, Message = "A silo connection dropped: watching the fleet's rate-limit domains anew (revision {Revision})")]
    private static partial void LogRestarted(ILogger logger, long revision);

    [LoggerMessage(Level = LogLevel.Information, Message = "Watching the fleet's rate-limit domains again (revision {Revision})")]
    private static partial void LogResumed(ILogger logger, long revision);
}

/// <summary>
/// What the standard <c>grpc.health.v1.Health</c> service reports for rate-limit decisions: NOT_SERVING while this
/// gateway cannot decide, that is before it first received the fleet's rate-limit domains (a domain written through the
/// API would answer OK unenforced), or while neither the grain cluster nor Redis answers (answers would be guesses:
/// fail-open OK marked degraded). SERVING otherwise, including in fallback mode, where Redis counters enforce.
/// </summary>
internal sealed class RateLimitDecisionsHealthCheck(EnvoyRateLimitRules rules, IServiceProvider services, TimeProvider time) : IHealthCheck
{
    /// <summary>How long one answer about the cluster and Redis serves (a fleet of Envoys checking often costs one probe a second).</summary>
    private static readonly TimeSpan ReuseFor = TimeSpan.FromSeconds(1);

    private Probe? _last;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!rules.FleetReceived)
        {
            return HealthCheckResult.Unhealthy("the fleet's rate-limit domains were not received from the cluster yet");
        }

        var now = time.GetTimestamp();
        var last = Volatile.Read(ref _last);
        if (last is null || time.GetElapsedTime(last.At, now) > ReuseFor)
        {
            last = new Probe(now, await ReachableAsync(cancellationToken));
            Volatile.Write(ref _last, last);
        }

        return last.Reachable
            ? HealthCheckResult.Healthy(rules.Describe())
            : HealthCheckResult.Unhealthy("neither the grain cluster nor Redis answers: rate-limit answers would be guesses");
    }

    /// <summary>True when the cluster or Redis answers its readiness check (or there is none to ask).</summary>
    private async Task<bool> ReachableAsync(CancellationToken cancellationToken)
    {
        var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Tags.Contains(HealthEndpoints.ReadyTag), cancellationToken);
        return report.Entries.Count == 0 || report.Entries.Values.Any(e => e.Status == HealthStatus.Healthy);
    }

    private sealed record Probe(long At, bool Reachable);
}
