using Orleans.Coordinator.Grains.Interfaces;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Coordinator.Grains.Interfaces.Routing;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// Before a cluster-mode gateway serves, runs each data-plane path once, as requests will: a lease acquired and
/// released and the byte budget read for a few warm-up users (so the grains' first calls on the silos and this process's own
/// code, Orleans serializers and JSON metadata are ready), mapping, token-budget and rate-limit reads, the cluster
/// ping, and the fallback scripts loaded into Redis. Without it the first burst of requests after a start pays for all
/// of that at once: measured here, 16 concurrent first requests each took 200-400 ms while this process could not even
/// run its timers on time. Bounded; failures are ignored (the breakers and readiness report them).
/// </summary>
internal sealed partial class GatewayWarmup(
    IGrainFactory grains, RateLimitCoalescer counters, FallbackStore fallback, ResilientUsers users,
    IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json, ILogger<GatewayWarmup> logger) : IHostedService
{
    private const string Key = "coordinator-warmup";
    private const int Users = 8; // enough that the warm-up grains land on every silo of a small cluster
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var started = TimeProvider.System.GetTimestamp();
        try
        {
            WarmJson();
            var peek = new RateLimitPolicy(RateLimitAlgorithm.FixedWindow, 1, 1000, 0, Shadow: true);
            await Task.WhenAll(
                grains.GetGrain<Grains.Interfaces.IClusterPingGrain>(0).PingAsync(),
                grains.Get<IRouteMappingGrain>(Key).ResolveRouteAsync(),
                grains.Get<ITenantTokenBudgetGrain>(Key).GetSnapshotAsync(),
                counters.CheckAsync(Grains.Interfaces.GrainKeys.RateLimitCounter(Key, Key, Key), peek, 0),
                fallback.LoadScriptsAsync()).WaitAsync(Budget, cancellationToken);
            await Task.WhenAll(Enumerable.Range(0, Users).Select(i => WarmUserAsync($"{Key}-{i}"))).WaitAsync(Budget, cancellationToken);
            LogWarm(logger, TimeProvider.System.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogCold(logger, ex.GetType().Name);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>A lease taken and given back through the same code a request runs, and the user's views read.</summary>
    private async Task WarmUserAsync(string user)
    {
        var (lease, _) = await users.AcquireAsync(user, Key, LeaseLimits.MinTtlMs);
        if (lease is { Granted: true, LeaseId: { } id })
        {
            await users.ReleaseAsync(user, id);
        }

        await grains.Get<IUserByteBudgetGrain>(user).GetSnapshotAsync(); // a read: a charge would leave usage to flush
        await users.ListAsync(user);
    }

    /// <summary>Builds the JSON metadata of every request and response type (reflection, the costliest first-use step).</summary>
    private void WarmJson()
    {
        foreach (var type in typeof(GatewayWarmup).Assembly.GetTypes().Where(t => t.IsPublic && t.Namespace == "Orleans.Coordinator.Apis" && (t.Name.EndsWith("Body", StringComparison.Ordinal) || t.Name.EndsWith("Response", StringComparison.Ordinal))))
        {
            json.Value.SerializerOptions.GetTypeInfo(type);
        }

        json.Value.SerializerOptions.GetTypeInfo(typeof(Microsoft.AspNetCore.Mvc.ProblemDetails));
        JsonSerializer.Serialize(new Microsoft.AspNetCore.Mvc.ProblemDetails(), json.Value.SerializerOptions);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Data-plane paths warmed in {ElapsedMs:0} ms.")]
    private static partial void LogWarm(ILogger logger, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warm-up did not finish ({ExceptionType}); the first requests may be answered by the fallback.")]
    private static partial void LogCold(ILogger logger, string exceptionType);
}
