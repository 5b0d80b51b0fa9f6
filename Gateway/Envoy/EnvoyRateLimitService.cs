using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Orleans.Coordinator.Envoy.RateLimit;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Resilience;
using Orleans.Coordinator.Tenants;
using Orleans.Runtime;
using static Orleans.Coordinator.Envoy.RateLimit.RateLimitResponse.Types;

namespace Orleans.Coordinator.Envoy;

/// <summary>
/// <c>envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit</c> over the coordinator's exact counters.
/// Each descriptor is matched against the configured rules; all matched counters are charged together or
/// not at all, so a request that is over limit on one descriptor costs nothing on the others.
/// </summary>
[Authorize(Policy = CoordinatorPolicies.Client)]
internal sealed partial class EnvoyRateLimitService(EnvoyRateLimitConfig config, RateLimitChecker checker, ILogger<EnvoyRateLimitService> logger)
    : RateLimitService.RateLimitServiceBase
{
    private const int MaxDescriptors = 64;

    public override async Task<RateLimitResponse> ShouldRateLimit(RateLimitRequest request, ServerCallContext context)
    {
        if (string.IsNullOrEmpty(request.Domain))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "rate limit domain must not be empty"));
        }

        if (request.Descriptors.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "rate limit descriptor list must not be empty"));
        }

        if (request.Descriptors.Count > MaxDescriptors)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"at most {MaxDescriptors} descriptors per request"));
        }

        var requestHits = request.HitsAddend == 0 ? 1L : request.HitsAddend;
        var plans = request.Descriptors.Select(d => Plan(request.Domain, d, requestHits)).ToList();
        var counted = plans.Where(p => p.Check is not null).ToList();

        CounterBatchOutcome outcome;
        try
        {
            outcome = counted.Count == 0 ? new CounterBatchOutcome(true, []) : await checker.CheckAllAsync([.. counted.Select(p => p.Check!)]);
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException or CoordinatorUnavailableException or DependencyDownException)
        {
            LogUnavailable(logger, ex.GetType().Name);
            throw new RpcException(new Status(StatusCode.Unavailable, "the coordinator cluster is unavailable"));
        }

        if (outcome.Mode != ServedMode.Normal)
        {
            var headers = new Grpc.Core.Metadata { { "x-coordinator-mode", ResilienceState.HeaderValue(outcome.Mode) } };
            if (outcome.Mode == ServedMode.Degraded)
            {
                headers.Add("x-ratelimit-status", "degraded");
            }

            await context.WriteResponseHeadersAsync(headers);
        }

        var response = new RateLimitResponse { OverallCode = outcome.Allowed ? Code.Ok : Code.OverLimit };
        var next = 0;
        foreach (var plan in plans)
        {
            response.Statuses.Add(plan.Check is null ? plan.Status! : ToStatus(plan, outcome.Results[next++]));
        }

        return response;
    }

    private Planned Plan(string domain, Orleans.Coordinator.Envoy.RateLimit.Common.RateLimitDescriptor descriptor, long requestHits)
    {
        var entries = descriptor.Entries.Select(e => (e.Key, e.Value)).ToList();
        var match = config.Match(domain, entries);
        var limit = match.Limit;
        if (descriptor.Limit is { } @override && EnvoyUnit.FromProto(@override.Unit) is { } unit)
        {
            limit = new EnvoyLimit(limit?.Name, @override.RequestsPerUnit, unit, false);
        }

        if (limit is null || limit.Unlimited)
        {
            return new Planned(null, null, false, new DescriptorStatus { Code = Code.Ok });
        }

        var hits = descriptor.HitsAddend is { } perDescriptor ? (long)Math.Min(perDescriptor, (ulong)RateLimitLimits.MaxLimit) : requestHits;
        var check = new CounterCheck(GrainKeys.EnvoyCounter(domain, entries), limit.ToPolicy(match.ShadowMode), hits);
        return new Planned(check, limit, match.ShadowMode, null);
    }

    private static DescriptorStatus ToStatus(Planned plan, RateLimitResult result) => new()
    {
        // Shadow rules count and report, but never answer OVER_LIMIT.
        Code = result.Allowed ? Code.Ok : Code.OverLimit,
        CurrentLimit = new RateLimitResponse.Types.RateLimit
        {
            Name = plan.Limit!.Name ?? string.Empty,
            RequestsPerUnit = (uint)plan.Limit.RequestsPerUnit,
            Unit = (RateLimitResponse.Types.RateLimit.Types.Unit)plan.Limit.Unit.ProtoValue,
        },
        LimitRemaining = (uint)Math.Clamp(result.Remaining, 0, uint.MaxValue),
        DurationUntilReset = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(Math.Max(0, result.ResetAfterMs))),
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "ShouldRateLimit answered UNAVAILABLE: {ExceptionType}")]
    private static partial void LogUnavailable(ILogger logger, string exceptionType);

    private sealed record Planned(CounterCheck? Check, EnvoyLimit? Limit, bool Shadow, DescriptorStatus? Status);
}
