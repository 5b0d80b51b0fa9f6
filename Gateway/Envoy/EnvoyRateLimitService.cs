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
/// not at all, so a request that is over limit on one descriptor costs nothing on the others. A descriptor's
/// counter is its domain and entries under its rule (the configured one, or the request's <c>limit</c> override):
/// an override never restarts, shrinks or shares the configured rule's counter.
/// </summary>
/// <remarks>
/// Input bounds (anything else answers <c>INVALID_ARGUMENT</c> naming the field, before anything is counted):
/// <c>domain</c> 1 to <see cref="MaxDomainLength"/> characters; 1 to <see cref="MaxDescriptors"/> descriptors;
/// 1 to <see cref="MaxEntries"/> entries per descriptor, each key 1 to <see cref="MaxEntryKeyLength"/> and value
/// 1 to <see cref="MaxEntryValueLength"/> characters; a <c>limit</c> override's <c>unit</c> one of SECOND, MINUTE,
/// HOUR, DAY, WEEK, MONTH, YEAR. Documented clamps and meanings: a request <c>hits_addend</c> of 0 counts 1; a
/// descriptor's own <c>hits_addend</c> replaces it, 0 only reports (counts nothing), and values above
/// 4,294,967,295 count as 4,294,967,295 (over every limit either way); a limit of 0 requests per unit answers
/// <c>OVER_LIMIT</c> (shadow: <c>OK</c>) and the request's other counters are not charged.
/// </remarks>
[Authorize(Policy = CoordinatorPolicies.Client)]
internal sealed partial class EnvoyRateLimitService(EnvoyRateLimitRules rules, RateLimitChecker checker, TimeProvider time, ILogger<EnvoyRateLimitService> logger)
    : RateLimitService.RateLimitServiceBase
{
    /// <summary>Most descriptors in one request.</summary>
    public const int MaxDescriptors = 64;

    /// <summary>Most entries in one descriptor.</summary>
    public const int MaxEntries = 16;

    /// <summary>Longest domain.</summary>
    public const int MaxDomainLength = 256;

    /// <summary>Longest entry key.</summary>
    public const int MaxEntryKeyLength = 256;

    /// <summary>Longest entry value (paths and addresses fit).</summary>
    public const int MaxEntryValueLength = 1024;

    public override Task<RateLimitResponse> ShouldRateLimit(RateLimitRequest request, ServerCallContext context)
        => DecideAsync(request, headers => context.WriteResponseHeadersAsync(headers));

    /// <summary>
    /// Decides one request (the gRPC method and the HTTP <c>POST /json</c> endpoint). Throws <see cref="RpcException"/>:
    /// <c>INVALID_ARGUMENT</c> naming the field, <c>UNAVAILABLE</c> when neither the cluster nor the fallback can decide.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="writeHeaders">Sends the <c>x-coordinator-mode</c> marks of a fallback or degraded answer.</param>
    internal async Task<RateLimitResponse> DecideAsync(RateLimitRequest request, Func<Grpc.Core.Metadata, Task> writeHeaders)
    {
        Validate(request);
        var requestHits = request.HitsAddend == 0 ? 1L : request.HitsAddend;
        var config = rules.Current; // one set of rules for the whole request, whatever a reload does meanwhile
        var plans = request.Descriptors.Select(d => Plan(config, request.Domain, d, requestHits)).ToList();

        // replaces (envoyproxy/ratelimit): a matched rule that names another drops that rule's evaluation in this
        // request; its counter is neither read nor charged.
        if (plans.Any(p => p.Limit?.Replaces is { Count: > 0 }))
        {
            var replaced = plans.SelectMany(p => p.Limit?.Replaces ?? []).ToHashSet(StringComparer.Ordinal);
            plans = [.. plans.Select(p => p.Limit?.Name is { } name && replaced.Contains(name)
                ? new Planned(null, null, false, false, new DescriptorStatus { Code = Code.Ok })
                : p)];
        }

        // A limit of 0 refuses the request: the other counters are only read, so nothing is charged.
        var blocked = plans.Any(p => p.Blocked && !p.Shadow);
        var counted = plans.Where(p => p.Check is not null).Select(p => blocked ? p.Check! with { Cost = 0 } : p.Check!).ToList();

        CounterBatchOutcome outcome;
        try
        {
            outcome = counted.Count == 0 ? new CounterBatchOutcome(true, []) : await checker.CheckAllAsync(counted);
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

            await writeHeaders(headers);
        }

        var response = new RateLimitResponse { OverallCode = outcome.Allowed && !blocked ? Code.Ok : Code.OverLimit };
        var next = 0;
        foreach (var plan in plans)
        {
            if (plan.Check is not null)
            {
                var result = outcome.Results[next++];
                response.Statuses.Add(ToStatus(plan, result));
                EnvoyRateLimitStats.Record(request.Domain, plan.Rule!, plan.Detail, plan.Hits, result.OverLimit, plan.Shadow, EnvoyRateLimitStats.IsNearLimit(result, rules.NearLimitRatio));
            }
            else
            {
                response.Statuses.Add(plan.Status!);
                if (plan.Blocked)
                {
                    EnvoyRateLimitStats.Record(request.Domain, plan.Rule!, plan.Detail, plan.Hits, over: true, plan.Shadow, nearLimit: false);
                }
            }
        }

        if (rules.ResponseHeaders)
        {
            AddRateLimitHeaders(response);
        }

        return response;
    }

    /// <summary>
    /// envoyproxy/ratelimit's <c>RESPONSE_HEADERS_ENABLED</c>: the most restrictive status (least remaining) as
    /// <c>x-ratelimit-limit</c> (<c>{limit}, {limit};w={window s}</c>, the IETF RateLimit header fields draft),
    /// <c>x-ratelimit-remaining</c> and <c>x-ratelimit-reset</c> (seconds), which Envoy adds to the client's answer.
    /// </summary>
    private static void AddRateLimitHeaders(RateLimitResponse response)
    {
        var tightest = response.Statuses.Where(s => s.CurrentLimit is not null).MinBy(s => s.LimitRemaining);
        if (tightest is null)
        {
            return;
        }

        var limit = tightest.CurrentLimit.RequestsPerUnit;
        var window = (EnvoyUnit.FromProto((int)tightest.CurrentLimit.Unit)?.WindowMs ?? 1_000) / 1_000;
        var reset = (long)Math.Ceiling(tightest.DurationUntilReset?.ToTimeSpan().TotalSeconds ?? 0);
        response.ResponseHeadersToAdd.Add(new Orleans.Coordinator.Envoy.Core.HeaderValue { Key = "x-ratelimit-limit", Value = $"{limit}, {limit};w={window}" });
        response.ResponseHeadersToAdd.Add(new Orleans.Coordinator.Envoy.Core.HeaderValue { Key = "x-ratelimit-remaining", Value = tightest.LimitRemaining.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        response.ResponseHeadersToAdd.Add(new Orleans.Coordinator.Envoy.Core.HeaderValue { Key = "x-ratelimit-reset", Value = reset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    /// <summary>Refuses what no rule can count, naming the field (gRPC INVALID_ARGUMENT).</summary>
    private static void Validate(RateLimitRequest request)
    {
        if (string.IsNullOrEmpty(request.Domain) || request.Domain.Length > MaxDomainLength)
        {
            throw Invalid("domain", $"must be 1 to {MaxDomainLength} characters");
        }

        if (request.Descriptors.Count is 0 or > MaxDescriptors)
        {
            throw Invalid("descriptors", $"must hold 1 to {MaxDescriptors} descriptors");
        }

        for (var i = 0; i < request.Descriptors.Count; i++)
        {
            var descriptor = request.Descriptors[i];
            if (descriptor.Entries.Count is 0 or > MaxEntries)
            {
                throw Invalid($"descriptors[{i}].entries", $"must hold 1 to {MaxEntries} entries");
            }

            for (var j = 0; j < descriptor.Entries.Count; j++)
            {
                var entry = descriptor.Entries[j];
                if (string.IsNullOrEmpty(entry.Key) || entry.Key.Length > MaxEntryKeyLength)
                {
                    throw Invalid($"descriptors[{i}].entries[{j}].key", $"must be 1 to {MaxEntryKeyLength} characters");
                }

                if (string.IsNullOrEmpty(entry.Value) || entry.Value.Length > MaxEntryValueLength)
                {
                    throw Invalid($"descriptors[{i}].entries[{j}].value", $"must be 1 to {MaxEntryValueLength} characters");
                }
            }

            if (descriptor.Limit is { } @override && EnvoyUnit.FromProto(@override.Unit) is null)
            {
                throw Invalid($"descriptors[{i}].limit.unit", "must be SECOND, MINUTE, HOUR, DAY, WEEK, MONTH or YEAR");
            }
        }
    }

    private static RpcException Invalid(string field, string rule)
        => new(new Status(StatusCode.InvalidArgument, $"{field} {rule}"));

    private Planned Plan(EnvoyRateLimitConfig config, string domain, Orleans.Coordinator.Envoy.RateLimit.Common.RateLimitDescriptor descriptor, long requestHits)
    {
        var entries = descriptor.Entries.Select(e => (e.Key, e.Value)).ToList();
        var match = config.Match(domain, entries);
        var limit = match.Limit;
        if (descriptor.Limit is { } @override)
        {
            limit = new EnvoyLimit(limit?.Name, @override.RequestsPerUnit, EnvoyUnit.FromProto(@override.Unit)!, false, limit?.Replaces);
        }

        if (limit is null)
        {
            return new Planned(null, null, false, false, new DescriptorStatus { Code = Code.Ok });
        }

        if (limit.Unlimited)
        {
            // As envoyproxy/ratelimit answers an unlimited rule: OK, nothing counted, limit_remaining the largest uint32.
            // Its limit stays in the plan: an unlimited rule may still replace another by name (as ratelimit.go does).
            return new Planned(null, limit, false, false, new DescriptorStatus { Code = Code.Ok, LimitRemaining = uint.MaxValue });
        }

        var ruleName = match.Rule?.Path ?? string.Join('.', entries.Select(e => e.Key));
        var detail = match.MetricDescriptor;
        var hits = descriptor.HitsAddend is { } perDescriptor ? (long)Math.Min(perDescriptor, (ulong)RateLimitLimits.MaxCost) : requestHits;
        if (limit.RequestsPerUnit == 0)
        {
            var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
            var status = new DescriptorStatus
            {
                Code = match.ShadowMode ? Code.Ok : Code.OverLimit,
                CurrentLimit = ToProto(limit),
                LimitRemaining = 0,
                DurationUntilReset = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(limit.Unit.WindowMs - (nowMs % limit.Unit.WindowMs))),
            };
            return new Planned(null, limit, match.ShadowMode, true, status, ruleName, detail, hits);
        }

        var check = new CounterCheck(GrainKeys.EnvoyCounter(domain, entries, match.SharedPatterns), limit.ToPolicy(match.ShadowMode), hits);
        return new Planned(check, limit, match.ShadowMode, false, null, ruleName, detail, hits);
    }

    private static RateLimitResponse.Types.RateLimit ToProto(EnvoyLimit limit) => new()
    {
        Name = limit.Name ?? string.Empty,
        RequestsPerUnit = (uint)Math.Clamp(limit.RequestsPerUnit, 0, uint.MaxValue),
        Unit = (RateLimitResponse.Types.RateLimit.Types.Unit)limit.Unit.ProtoValue,
    };

    private static DescriptorStatus ToStatus(Planned plan, RateLimitResult result) => new()
    {
        // Shadow rules count and report, but never answer OVER_LIMIT.
        Code = result.Allowed ? Code.Ok : Code.OverLimit,
        CurrentLimit = ToProto(plan.Limit!),
        LimitRemaining = (uint)Math.Clamp(result.Remaining, 0, uint.MaxValue),
        DurationUntilReset = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(Math.Clamp(result.ResetAfterMs, 0, RateLimitLimits.MaxWindowMs))),
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "ShouldRateLimit answered UNAVAILABLE: {ExceptionType}")]
    private static partial void LogUnavailable(ILogger logger, string exceptionType);

    /// <summary>What one descriptor needs: a counter check, or a status known without one (no rule, unlimited, or a limit of 0: <paramref name="Blocked"/>).</summary>
    /// <summary>One descriptor's plan; <paramref name="Rule"/> and <paramref name="Detail"/> name it in the statistics.</summary>
    private sealed record Planned(CounterCheck? Check, EnvoyLimit? Limit, bool Shadow, bool Blocked, DescriptorStatus? Status, string? Rule = null, string? Detail = null, long Hits = 0);
}
