using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Coordinator.Grains.Interfaces.Routing;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// Before a cluster-mode gateway serves, makes one read-only call down each data-plane path (lease, byte budget,
/// mapping, token budget, rate-limit peek) and loads the fallback scripts into Redis. The first call of a
/// path pays for code generation and connections; without this, the first requests after a start would miss the
/// 50 ms data-plane timeout and be answered by the fallback. Bounded; failures are ignored (the breakers and
/// readiness report them).
/// </summary>
internal sealed partial class GatewayWarmup(IGrainFactory grains, RateLimitCoalescer counters, FallbackStore fallback, ILogger<GatewayWarmup> logger) : IHostedService
{
    private const string Key = "coordinator-warmup";
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var started = TimeProvider.System.GetTimestamp();
        try
        {
            var peek = new RateLimitPolicy(RateLimitAlgorithm.FixedWindow, 1, 1000, 0, Shadow: true);
            await Task.WhenAll(
                grains.GetGrain<IUserLeaseGrain>(Key).GetSnapshotAsync(),
                grains.GetGrain<IUserByteBudgetGrain>(Key).GetSnapshotAsync(),
                grains.GetGrain<IRouteMappingGrain>(Key).ResolveRouteAsync(),
                grains.GetGrain<ITenantTokenBudgetGrain>(Key).GetSnapshotAsync(),
                counters.CheckAsync(Grains.Interfaces.GrainKeys.RateLimitCounter(Key, Key, Key), peek, 0),
                fallback.LoadScriptsAsync()).WaitAsync(Budget, cancellationToken);
            LogWarm(logger, TimeProvider.System.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogCold(logger, ex.GetType().Name);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Data-plane paths warmed in {ElapsedMs:0} ms.")]
    private static partial void LogWarm(ILogger logger, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warm-up did not finish ({ExceptionType}); the first requests may be answered by the fallback.")]
    private static partial void LogCold(ILogger logger, string exceptionType);
}
