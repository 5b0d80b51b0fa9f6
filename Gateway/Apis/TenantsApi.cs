using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Resilience;
using Orleans.Coordinator.Tenants;

namespace Orleans.Coordinator.Apis;

/// <summary>A policy as JSON: <c>algorithm</c> is <c>fixedWindow</c>, <c>slidingWindow</c> or <c>tokenBucket</c>.</summary>
public sealed record PolicyBody(string? Algorithm, long? Limit, long? WindowMs, double? RefillPerSecond, bool? Shadow);

/// <summary>A stored policy.</summary>
public sealed record PolicyResponse(string Name, string Algorithm, long Limit, long WindowMs, double RefillPerSecond, bool Shadow);

/// <summary>Body of <c>PUT /v1/tenants/{tenant}/tokens/budget</c>.</summary>
public sealed record TokenBudgetBody(long? Budget, string? Period);

/// <summary>Body of <c>POST /v1/tenants/{tenant}/tokens/reserve</c>; ttl defaults to 60 s.</summary>
public sealed record TokenReserveBody(long? Tokens, long? TtlMs);

/// <summary>Body of <c>POST /v1/tenants/{tenant}/tokens/commit</c>.</summary>
public sealed record TokenCommitBody(string? ReservationId, long? ActualTokens);

/// <summary>A tenant's token budget.</summary>
public sealed record TokenBudgetResponse(long Budget, string Period, long Used, long Reserved, long Remaining, long ResetAtMs);

/// <summary>A granted reservation.</summary>
public sealed record TokenReserveResponse(string ReservationId, long Remaining, long ResetAtMs);

/// <summary>A committed reservation.</summary>
public sealed record TokenCommitResponse(long Returned, long Used, long Remaining);

/// <summary>Tenant policies, configuration and token budgets.</summary>
public static class TenantsApi
{
    private const long DefaultReservationTtlMs = 60_000;

    /// <summary>Maps <c>/v1/tenants</c>.</summary>
    public static RouteGroupBuilder MapTenantsApi(this IEndpointRouteBuilder app)
    {
        var tenants = app.MapGroup("/v1/tenants/{tenant}").WithTags("Tenants");

        tenants.MapGet("/policies", ListPolicies).RequireAuthorization(CoordinatorPolicies.Admin)
            .WithName("ListPolicies").WithSummary("The tenant's policies.");
        tenants.MapPut("/policies/{policy}", PutPolicy).RequireAuthorization(CoordinatorPolicies.Admin)
            .WithName("PutPolicy").WithSummary("Create or replace a rate-limit policy.");
        tenants.MapGet("/policies/{policy}", GetPolicy).RequireAuthorization(CoordinatorPolicies.Admin)
            .WithName("GetPolicy").WithSummary("A rate-limit policy.");
        tenants.MapDelete("/policies/{policy}", DeletePolicy).RequireAuthorization(CoordinatorPolicies.Admin)
            .WithName("DeletePolicy").WithSummary("Remove a rate-limit policy.");

        tenants.MapGet("/config", GetConfig).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("GetTenantConfig").WithSummary("The tenant's configuration document, with its version as ETag.");
        tenants.MapPut("/config", PutConfig).RequireAuthorization(CoordinatorPolicies.Admin)
            .Accepts<object>("application/json")
            .WithName("PutTenantConfig").WithSummary("Replace the configuration document; If-Match makes it conditional (412 when stale).");

        tenants.MapPut("/tokens/budget", PutTokenBudget).RequireAuthorization(CoordinatorPolicies.Admin)
            .WithName("PutTokenBudget").WithSummary("Set the tenant's LLM token budget per UTC day or month.");
        tenants.MapPost("/tokens/reserve", ReserveTokens).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("ReserveTokens").WithSummary("Hold tokens for a call; they return by themselves unless committed within the ttl.");
        tenants.MapPost("/tokens/commit", CommitTokens).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("CommitTokens").WithSummary("Record what a reserved call used; the rest returns to the budget.");
        tenants.MapGet("/tokens", GetTokens).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("GetTokens").WithSummary("Budget, used, reserved and reset time.");
        return tenants;
    }

    internal static async Task<Results<Ok<IReadOnlyList<PolicyResponse>>, ProblemHttpResult>> ListPolicies(string tenant, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        var policies = await grains.Get<ITenantConfigGrain>(key).GetPoliciesAsync();
        return TypedResults.Ok<IReadOnlyList<PolicyResponse>>([.. policies.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => ToResponse(p.Key, p.Value))]);
    }

    internal static async Task<Results<Ok<PolicyResponse>, ProblemHttpResult>> PutPolicy(
        string tenant, string policy, PolicyBody body, HttpContext context, IGrainFactory grains, TenantCache cache)
    {
        if (!TryTenantAndPolicy(tenant, policy, context, out var tenantKey, out var policyKey, out var invalid))
        {
            return invalid;
        }

        if (!TryParseAlgorithm(body.Algorithm, out var algorithm))
        {
            return ProblemResponses.Invalid(context, "algorithm", "algorithm must be fixedWindow, slidingWindow or tokenBucket.");
        }

        if (body.Limit is null)
        {
            return ProblemResponses.Invalid(context, "limit", "limit is required.");
        }

        var value = new RateLimitPolicy(algorithm, body.Limit.Value, body.WindowMs ?? 0, body.RefillPerSecond ?? 0, body.Shadow ?? false);
        RateLimitLimits.Validate(value); // 400 naming the field, through the exception handler
        await grains.Get<ITenantConfigGrain>(tenantKey).PutPolicyAsync(policyKey, value);
        cache.InvalidatePolicy(tenantKey, policyKey);
        return TypedResults.Ok(ToResponse(policyKey, value));
    }

    internal static async Task<Results<Ok<PolicyResponse>, ProblemHttpResult>> GetPolicy(string tenant, string policy, HttpContext context, IGrainFactory grains)
    {
        if (!TryTenantAndPolicy(tenant, policy, context, out var tenantKey, out var policyKey, out var invalid))
        {
            return invalid;
        }

        var value = await grains.Get<ITenantConfigGrain>(tenantKey).GetPolicyAsync(policyKey);
        return value is null ? PolicyNotFound(context, tenantKey, policyKey) : TypedResults.Ok(ToResponse(policyKey, value));
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeletePolicy(
        string tenant, string policy, HttpContext context, IGrainFactory grains, TenantCache cache)
    {
        if (!TryTenantAndPolicy(tenant, policy, context, out var tenantKey, out var policyKey, out var invalid))
        {
            return invalid;
        }

        var removed = await grains.Get<ITenantConfigGrain>(tenantKey).RemovePolicyAsync(policyKey);
        cache.InvalidatePolicy(tenantKey, policyKey);
        return removed ? TypedResults.NoContent() : PolicyNotFound(context, tenantKey, policyKey);
    }

    internal static async Task<IResult> GetConfig(string tenant, HttpContext context, TenantCache cache, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        if (!EntityTags.TryReadPreconditions(context.Request, out var precondition, out var badHeader))
        {
            return BadTagHeader(context, badHeader!);
        }

        // A conditional read is answered from the grain, not from this gateway's cache (up to Gateway:TenantCacheTtl
        // old), so its 304 or 412 is about the version that is current now.
        var document = precondition == VersionPrecondition.None
            ? await cache.GetConfigAsync(key)
            : await grains.Get<ITenantConfigGrain>(key).GetConfigAsync();
        return EntityTags.ConditionalRead(context, precondition, document?.Version ?? 0, document?.Json, "application/json",
            () => ProblemResponses.Result(context, ProblemResponses.NotFound("tenant-config-not-found", "The tenant has no configuration document.")));
    }

    internal static async Task<Results<ContentHttpResult, ProblemHttpResult>> PutConfig(
        string tenant, HttpContext context, IGrainFactory grains, TenantCache cache)
    {
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        if (!EntityTags.TryReadPreconditions(context.Request, out var precondition, out var badHeader))
        {
            return BadTagHeader(context, badHeader!);
        }

        if (context.Request.ContentLength > TenantConfigLimits.MaxConfigBytes)
        {
            return ProblemResponses.Invalid(context, "config", $"the configuration document must be at most {TenantConfigLimits.MaxConfigBytes} bytes.");
        }

        if (context.Request.HasJsonContentType() is false)
        {
            var unsupported = ProblemResponses.Validation("body", "The body must be JSON (Content-Type: application/json).");
            unsupported.Status = StatusCodes.Status415UnsupportedMediaType;
            return ProblemResponses.Result(context, unsupported);
        }

        var json = await ReadBoundedAsync(context.Request, TenantConfigLimits.MaxConfigBytes + 1);
        var result = await grains.Get<ITenantConfigGrain>(key).PutConfigIfAsync(json, precondition);
        cache.InvalidateConfig(key);
        if (!result.Written)
        {
            return ProblemResponses.Result(context, ProblemResponses.PreconditionFailed(result.Version));
        }

        context.Response.Headers.ETag = EntityTags.Of(result.Version);
        return TypedResults.Content(json, "application/json", Encoding.UTF8);
    }

    internal static ProblemHttpResult BadTagHeader(HttpContext context, string header)
        => ProblemResponses.Invalid(context, header, $"{header} must be * or a list of entity tags, e.g. \"3\", W/\"3\" (RFC 9110 section 13.1).");

    internal static async Task<Results<Ok<TokenBudgetResponse>, ProblemHttpResult>> PutTokenBudget(
        string tenant, TokenBudgetBody body, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        if (body.Budget is not { } budget)
        {
            return ProblemResponses.Invalid(context, "budget", "budget is required.");
        }

        TokenBudgetPeriod period;
        if (string.Equals(body.Period, "day", StringComparison.OrdinalIgnoreCase))
        {
            period = TokenBudgetPeriod.Day;
        }
        else if (string.Equals(body.Period, "month", StringComparison.OrdinalIgnoreCase))
        {
            period = TokenBudgetPeriod.Month;
        }
        else
        {
            return ProblemResponses.Invalid(context, "period", "period must be day or month.");
        }

        var snapshot = await grains.Get<ITenantTokenBudgetGrain>(key).SetBudgetAsync(budget, period);
        return TypedResults.Ok(ToResponse(snapshot));
    }

    internal static async Task<Results<Ok<TokenReserveResponse>, ProblemHttpResult>> ReserveTokens(
        string tenant, TokenReserveBody body, HttpContext context, ResilientTokens tokenBudgets)
    {
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        if (body.Tokens is not { } tokens)
        {
            return ProblemResponses.Invalid(context, "tokens", "tokens is required.");
        }

        var (result, mode) = await tokenBudgets.ReserveAsync(key, tokens, body.TtlMs ?? DefaultReservationTtlMs);
        ResilienceState.Mark(context, "tokens", mode);
        if (result is not null)
        {
            CoordinatorDiagnostics.Decision("tokens", result.Granted);
        }
        if (result is null)
        {
            return TokenBudgetNotFound(context, key);
        }

        if (!result.Granted)
        {
            var retry = Math.Max(0, result.ResetAtMs - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            return ProblemResponses.Result(context, ProblemResponses.TokenBudgetExhausted(result.Remaining, result.ResetAtMs, retry));
        }

        return TypedResults.Ok(new TokenReserveResponse(result.ReservationId!, result.Remaining, result.ResetAtMs));
    }

    internal static async Task<Results<Ok<TokenCommitResponse>, ProblemHttpResult>> CommitTokens(
        string tenant, TokenCommitBody body, HttpContext context, ResilientTokens tokenBudgets)
    {
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        if (!GrainKeys.TryLeaseId(body.ReservationId, out var reservation, out _))
        {
            return ProblemResponses.Invalid(context, "reservationId", "reservationId is required and must be one this service returned.");
        }

        if (body.ActualTokens is not { } actual)
        {
            return ProblemResponses.Invalid(context, "actualTokens", "actualTokens is required.");
        }

        var (result, mode) = await tokenBudgets.CommitAsync(key, reservation, actual);
        ResilienceState.Mark(context, "tokens", mode);
        if (result is null)
        {
            return TokenBudgetNotFound(context, key);
        }

        if (!result.Found)
        {
            return ProblemResponses.Result(context, ProblemResponses.NotFound("reservation-not-found",
                "The reservation is unknown or has expired.", "An expired reservation's tokens are already back in the budget."));
        }

        return TypedResults.Ok(new TokenCommitResponse(result.Returned, result.Used, result.Remaining));
    }

    internal static async Task<Results<Ok<TokenBudgetResponse>, ProblemHttpResult>> GetTokens(string tenant, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        var snapshot = await grains.Get<ITenantTokenBudgetGrain>(key).GetSnapshotAsync();
        return snapshot is null ? TokenBudgetNotFound(context, key) : TypedResults.Ok(ToResponse(snapshot));
    }

    internal static async Task<string> ReadBoundedAsync(HttpRequest request, int maxBytes)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > maxBytes)
            {
                throw new CoordinatorValidationException("config", $"the configuration document must be at most {TenantConfigLimits.MaxConfigBytes} bytes.");
            }
        }

        try
        {
            // Strict: invalid UTF-8 is refused, never replaced (the stored document would differ from what was sent).
            return StrictUtf8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }
        catch (DecoderFallbackException)
        {
            throw new CoordinatorValidationException("body", "The body is not valid UTF-8 JSON.");
        }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static bool TryParseAlgorithm(string? value, out RateLimitAlgorithm algorithm)
    {
        (var ok, algorithm) = value switch
        {
            "fixedWindow" => (true, RateLimitAlgorithm.FixedWindow),
            "slidingWindow" => (true, RateLimitAlgorithm.SlidingWindow),
            "tokenBucket" => (true, RateLimitAlgorithm.TokenBucket),
            _ => (false, RateLimitAlgorithm.FixedWindow),
        };
        return ok;
    }

    private static PolicyResponse ToResponse(string name, RateLimitPolicy p) => new(
        name,
        p.Algorithm switch
        {
            RateLimitAlgorithm.SlidingWindow => "slidingWindow",
            RateLimitAlgorithm.TokenBucket => "tokenBucket",
            _ => "fixedWindow",
        },
        p.Limit,
        p.WindowMs,
        p.RefillPerSecond,
        p.Shadow);

    private static TokenBudgetResponse ToResponse(TokenBudgetSnapshot s)
        => new(s.Budget, s.Period == TokenBudgetPeriod.Month ? "month" : "day", s.Used, s.Reserved, Math.Max(0, s.Budget - s.Used - s.Reserved), s.ResetAtMs);

    private static bool TryTenantAndPolicy(string tenant, string policy, HttpContext context, out string tenantKey, out string policyKey, out ProblemHttpResult invalid)
    {
        (tenantKey, policyKey, invalid) = (string.Empty, string.Empty, null!);
        if (!GrainKeys.TryTenant(tenant, out var t, out var error))
        {
            invalid = ProblemResponses.Invalid(context, "tenant", error);
            return false;
        }

        if (!GrainKeys.TryPolicy(policy, out var p, out error))
        {
            invalid = ProblemResponses.Invalid(context, "policy", error);
            return false;
        }

        (tenantKey, policyKey) = (t, p);
        return true;
    }

    private static ProblemHttpResult PolicyNotFound(HttpContext context, string tenant, string policy)
        => ProblemResponses.Result(context, ProblemResponses.NotFound("policy-not-found", "The tenant has no such policy.", $"Tenant '{tenant}' has no policy '{policy}'."));

    private static ProblemHttpResult TokenBudgetNotFound(HttpContext context, string tenant)
        => ProblemResponses.Result(context, ProblemResponses.NotFound("token-budget-not-found", "The tenant has no token budget.",
            $"Set one with PUT /v1/tenants/{tenant}/tokens/budget."));
}
