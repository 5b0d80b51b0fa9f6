using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Resilience;
using Orleans.Coordinator.Tenants;

namespace Orleans.Coordinator.Apis;

/// <summary>One check: <c>{ tenant, policy, key, cost }</c>; cost defaults to 1, and 0 peeks without counting.</summary>
public sealed record RateLimitCheckBody(string? Tenant, string? Policy, string? Key, long? Cost);

/// <summary>Body of <c>POST /v1/ratelimit/check-batch</c>: 1 to 64 checks.</summary>
public sealed record RateLimitBatchBody(IReadOnlyList<RateLimitCheckBody?>? Checks);

/// <summary>The answer to one check.</summary>
/// <param name="Allowed">Whether the request may go ahead.</param>
/// <param name="Limit">The policy's limit.</param>
/// <param name="Remaining">What is left.</param>
/// <param name="ResetAfterMs">When the quota is whole again.</param>
/// <param name="RetryAfterMs">When denied: the soonest a retry can pass; 0 otherwise.</param>
/// <param name="Shadow">True when the policy is in shadow mode.</param>
/// <param name="WouldDeny">In shadow mode: the request was over the limit and would have been denied.</param>
public sealed record RateLimitCheckResponse(bool Allowed, long Limit, long Remaining, long ResetAfterMs, long RetryAfterMs, bool Shadow, bool WouldDeny);

/// <summary>One check's result inside a batch answer.</summary>
public sealed record RateLimitBatchItem(string Tenant, string Policy, string Key, bool Allowed, long Limit, long Remaining, long ResetAfterMs, long RetryAfterMs);

/// <summary>The answer to a batch that passed: every check was counted.</summary>
public sealed record RateLimitBatchResponse(bool Allowed, IReadOnlyList<RateLimitBatchItem> Results);

/// <summary>Exact rate-limit checks against tenant policies.</summary>
public static class RateLimitApi
{
    /// <summary>Maps <c>/v1/ratelimit</c>.</summary>
    public static RouteGroupBuilder MapRateLimitApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/ratelimit").WithTags("Rate limits").RequireAuthorization(CoordinatorPolicies.Client);
        group.MapPost("/check", Check).WithName("CheckRateLimit").WithSummary("Check and count one request against a tenant policy.");
        group.MapPost("/check-batch", CheckBatch).WithName("CheckRateLimitBatch").WithSummary("Check up to 64 requests at once: all are counted, or none.");
        return group;
    }

    internal static async Task<Results<Ok<RateLimitCheckResponse>, ProblemHttpResult>> Check(
        RateLimitCheckBody body, HttpContext context, TenantCache tenants, RateLimitChecker checker, ResilienceState resilience)
    {
        Resolved resolved;
        try
        {
            resolved = await ResolveAsync(body, "", tenants);
        }
        catch (Exception ex) when (CannotReadPolicy(ex, resilience))
        {
            // No policy known while the cluster (or its storage) is down: nothing to enforce.
            MarkDegraded(context);
            return TypedResults.Ok(new RateLimitCheckResponse(true, 0, 0, 0, 0, false, false));
        }

        if (resolved.Problem is { } problem)
        {
            return ProblemResponses.Result(context, problem);
        }

        var (check, policyName, policy) = (resolved.Check!, resolved.PolicyName!, resolved.Policy!);
        var outcome = await checker.CheckAllAsync([check]);
        var result = outcome.Results[0];
        SetHeaders(context, policyName, policy, result);
        MarkMode(context, outcome.Mode);
        if (!outcome.Allowed)
        {
            return ProblemResponses.Result(context, ProblemResponses.RateLimited(result.Limit, result.Remaining, result.RetryAfterMs, null));
        }

        return TypedResults.Ok(new RateLimitCheckResponse(true, result.Limit, result.Remaining, result.ResetAfterMs, result.RetryAfterMs, policy.Shadow, result.OverLimit));
    }

    internal static async Task<Results<Ok<RateLimitBatchResponse>, ProblemHttpResult>> CheckBatch(
        RateLimitBatchBody body, HttpContext context, TenantCache tenants, RateLimitChecker checker, ResilienceState resilience)
    {
        if (body.Checks is not { Count: > 0 } items)
        {
            return ProblemResponses.Invalid(context, "checks", "checks must hold at least one check.");
        }

        if (items.Count > RateLimitLimits.MaxBatch)
        {
            return ProblemResponses.Invalid(context, "checks", $"checks may hold at most {RateLimitLimits.MaxBatch} checks.");
        }

        Resolved[] resolved;
        try
        {
            resolved = await Task.WhenAll(items.Select((item, i) => ResolveAsync(item, $"checks[{i}].", tenants).AsTask()));
        }
        catch (Exception ex) when (CannotReadPolicy(ex, resilience))
        {
            MarkDegraded(context);
            return TypedResults.Ok(new RateLimitBatchResponse(true, [.. items.Select(i => new RateLimitBatchItem(i?.Tenant ?? "", i?.Policy ?? "", i?.Key ?? "", true, 0, 0, 0, 0))]));
        }

        if (resolved.FirstOrDefault(r => r.Problem is not null)?.Problem is { } problem)
        {
            return ProblemResponses.Result(context, problem);
        }

        var outcome = await checker.CheckAllAsync([.. resolved.Select(r => r.Check!)]);
        MarkMode(context, outcome.Mode);
        var results = resolved.Zip(outcome.Results, (r, x) => new RateLimitBatchItem(
            r.Body!.Tenant!, r.PolicyName!, r.Body.Key!, x.Allowed, x.Limit, x.Remaining, x.ResetAfterMs, x.RetryAfterMs)).ToList();
        if (!outcome.Allowed)
        {
            var retry = outcome.Results.Where(r => !r.Allowed).Max(r => r.RetryAfterMs);
            var denied = outcome.Results.First(r => !r.Allowed);
            return ProblemResponses.Result(context, ProblemResponses.RateLimited(denied.Limit, denied.Remaining, retry, results));
        }

        return TypedResults.Ok(new RateLimitBatchResponse(true, results));
    }

    private static async ValueTask<Resolved> ResolveAsync(RateLimitCheckBody? body, string prefix, TenantCache tenants)
    {
        if (body is null)
        {
            return Resolved.Invalid($"{prefix}body".TrimEnd('.'), "each check must be an object.");
        }

        if (!GrainKeys.TryTenant(body.Tenant, out var tenant, out var error))
        {
            return Resolved.Invalid(prefix + "tenant", error);
        }

        if (!GrainKeys.TryPolicy(body.Policy, out var policyName, out error))
        {
            return Resolved.Invalid(prefix + "policy", error);
        }

        if (!GrainKeys.TryRateLimitKey(body.Key, out var key, out error))
        {
            return Resolved.Invalid(prefix + "key", error);
        }

        var cost = body.Cost ?? 1;
        if (cost < 0 || cost > RateLimitLimits.MaxCost)
        {
            return Resolved.Invalid(prefix + "cost", $"cost must be between 0 and {RateLimitLimits.MaxCost}.");
        }

        var policy = await tenants.GetPolicyAsync(tenant, policyName);
        if (policy is null)
        {
            return new Resolved(body, null, null, null, ProblemResponses.NotFound("policy-not-found",
                "The tenant has no such policy.", $"Tenant '{tenant}' has no policy '{policyName}'."));
        }

        return new Resolved(body, policyName, policy, new CounterCheck(GrainKeys.RateLimitCounter(tenant, policyName, key), policy, cost), null);
    }

    /// <summary>
    /// <c>X-Coordinator-Mode</c> on answers not decided by the grains; <c>X-RateLimit-Status: degraded</c> when
    /// nothing was enforced. (The rate-limit checker has counted them already.)
    /// </summary>
    private static void MarkMode(HttpContext context, ServedMode mode)
    {
        if (mode != ServedMode.Normal)
        {
            context.Response.Headers["X-Coordinator-Mode"] = ResilienceState.HeaderValue(mode);
        }

        if (mode == ServedMode.Degraded)
        {
            context.Response.Headers["X-RateLimit-Status"] = "degraded";
        }
    }

    /// <summary>The policy could not be read and the failure mode says to allow: the cluster is down (unless rate limits fail closed), or Redis is (if they fail open).</summary>
    private static bool CannotReadPolicy(Exception exception, ResilienceState resilience) => exception switch
    {
        DependencyDownException => resilience.Options.RateLimits != ClusterOutageMode.Closed,
        _ => resilience.Enabled
             && resilience.Options.RateLimitsWithoutRedis == RedisOutageMode.Open
             && (exception is Grains.Interfaces.CoordinatorUnavailableException || StorageFailures.Is(exception)),
    };

    private static void MarkDegraded(HttpContext context)
    {
        ResilienceState.Count("ratelimit", ServedMode.Degraded);
        MarkMode(context, ServedMode.Degraded);
    }

    /// <summary>
    /// IETF httpapi ratelimit-headers (draft 09): <c>RateLimit-Policy: "name";q=100;w=60</c> and
    /// <c>RateLimit: "name";r=42;t=17</c> (w and t in seconds).
    /// </summary>
    private static void SetHeaders(HttpContext context, string name, RateLimitPolicy policy, RateLimitResult result)
    {
        // Policies are bounded (RateLimitLimits.Validate) so that these are at most 366 days; clamped all the same,
        // so no header can ever carry a negative or overflowed number.
        var windowMs = policy.Algorithm == RateLimitAlgorithm.TokenBucket
            ? Math.Ceiling(policy.Limit * 1000d / policy.RefillPerSecond)
            : policy.WindowMs;
        var window = (long)Math.Ceiling(Math.Clamp(windowMs, 0, RateLimitLimits.MaxWindowMs) / 1000d);
        var reset = (Math.Clamp(result.ResetAfterMs, 0, RateLimitLimits.MaxWindowMs) + 999) / 1000;
        var remaining = Math.Clamp(result.Remaining, 0, policy.Limit);
        context.Response.Headers["RateLimit-Policy"] = string.Create(CultureInfo.InvariantCulture, $"\"{name}\";q={policy.Limit};w={window}");
        context.Response.Headers["RateLimit"] = string.Create(CultureInfo.InvariantCulture, $"\"{name}\";r={remaining};t={reset}");
    }

    private sealed record Resolved(RateLimitCheckBody? Body, string? PolicyName, RateLimitPolicy? Policy, CounterCheck? Check, Microsoft.AspNetCore.Mvc.ProblemDetails? Problem)
    {
        public static Resolved Invalid(string field, string message) => new(null, null, null, null, ProblemResponses.Validation(field, message));
    }
}
