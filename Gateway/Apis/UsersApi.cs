using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Resilience;

namespace Orleans.Coordinator.Apis;

/// <summary>Body of <c>POST /v1/users/{user}/connections</c>.</summary>
/// <param name="InstanceId">The proxy instance holding the connection.</param>
/// <param name="TtlMs">Lease ttl, 1000 to 86400000 ms; the configured default when absent.</param>
public sealed record AcquireConnectionBody(string? InstanceId, long? TtlMs);

/// <summary>Body of <c>POST /v1/users/{user}/connections/{leaseId}/renew</c> (optional).</summary>
/// <param name="TtlMs">A new ttl; the lease's own when absent.</param>
public sealed record RenewConnectionBody(long? TtlMs);

/// <summary>A granted lease.</summary>
public sealed record LeaseGrantedResponse(string LeaseId, int Active, int Limit, long ExpiresAtMs);

/// <summary>A renewed lease.</summary>
public sealed record LeaseRenewedResponse(string LeaseId, long ExpiresAtMs);

/// <summary>One live lease.</summary>
public sealed record LeaseResponse(string LeaseId, string InstanceId, long AcquiredAtMs, long ExpiresAtMs);

/// <summary>A user's live leases.</summary>
public sealed record LeaseListResponse(int Active, int Limit, IReadOnlyList<LeaseResponse> Leases);

/// <summary>Body of <c>POST /v1/users/{user}/bytes</c>.</summary>
/// <param name="Bytes">Bytes to charge, 0 to 2^40.</param>
public sealed record ConsumeBytesBody(long? Bytes);

/// <summary>A charged byte report.</summary>
public sealed record ByteBudgetResponse(long Used, long Budget, long Remaining, long ResetAtMs);

/// <summary>Body of <c>PUT /v1/users/{user}/limits</c>: a missing field falls back to the configured default.</summary>
public sealed record UserLimitsBody(int? MaxConnections, long? ByteBudget, long? BudgetWindowMs);

/// <summary>The limits in force for a user.</summary>
public sealed record UserLimitsResponse(int MaxConnections, long ByteBudget, long BudgetWindowMs);

/// <summary>A user's connections and byte budget.</summary>
public sealed record UserStatusResponse(int ActiveConnections, int MaxConnections, long BytesUsed, long ByteBudget, long WindowResetAtMs);

/// <summary>Per-user connection leases, byte budgets and limits.</summary>
public static class UsersApi
{
    /// <summary>Maps <c>/v1/users</c>.</summary>
    public static RouteGroupBuilder MapUsersApi(this IEndpointRouteBuilder app)
    {
        var users = app.MapGroup("/v1/users/{user}").WithTags("Users");

        users.MapPost("/connections", AcquireConnection).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("AcquireConnection").WithSummary("Take one concurrent-connection lease for the user.");
        users.MapGet("/connections", ListConnections).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("ListConnections").WithSummary("List the user's live leases.");
        users.MapPost("/connections/{leaseId}/renew", RenewConnection).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("RenewConnection").WithSummary("Extend a live lease.");
        users.MapDelete("/connections/{leaseId}", ReleaseConnection).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("ReleaseConnection").WithSummary("Release a lease; releasing an unknown lease is harmless (204).");
        users.MapPost("/bytes", ConsumeBytes).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("ConsumeBytes").WithSummary("Charge bytes against the user's budget for the current window.");
        users.MapGet("/", GetUser).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("GetUser").WithSummary("The user's active connections and byte usage.");
        users.MapPut("/limits", PutLimits).RequireAuthorization(CoordinatorPolicies.Admin)
            .WithName("PutUserLimits").WithSummary("Set the user's limits; missing fields use the configured defaults.");
        return users;
    }

    internal static async Task<Results<Created<LeaseGrantedResponse>, ProblemHttpResult>> AcquireConnection(
        string user, AcquireConnectionBody body, HttpContext context, ResilientUsers users)
    {
        if (!GrainKeys.TryUser(user, out var userKey, out var error))
        {
            return ProblemResponses.Invalid(context, "user", error);
        }

        if (!GrainKeys.TryInstanceId(body.InstanceId, out var instanceId, out error))
        {
            return ProblemResponses.Invalid(context, "instanceId", error);
        }

        if (!IsValidTtl(body.TtlMs))
        {
            return ProblemResponses.Invalid(context, "ttlMs", TtlRangeMessage);
        }

        var (result, mode) = await users.AcquireAsync(userKey, instanceId, body.TtlMs);
        ResilienceState.Mark(context, "leases", mode);
        CoordinatorDiagnostics.Decision("leases", result.Granted);
        if (!result.Granted)
        {
            var retryAfter = result.ExpiresAtMs > 0 ? Math.Max(0, result.ExpiresAtMs - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) : 1000;
            return ProblemResponses.Result(context, ProblemResponses.ConnectionLimit(result.Limit, result.Active, retryAfter));
        }

        var location = $"/v1/users/{Uri.EscapeDataString(userKey)}/connections/{result.LeaseId}";
        return TypedResults.Created(location, new LeaseGrantedResponse(result.LeaseId!, result.Active, result.Limit, result.ExpiresAtMs));
    }

    internal static async Task<Results<Ok<LeaseListResponse>, ProblemHttpResult>> ListConnections(string user, HttpContext context, ResilientUsers users)
    {
        if (!GrainKeys.TryUser(user, out var userKey, out var error))
        {
            return ProblemResponses.Invalid(context, "user", error);
        }

        var snapshot = await users.ListAsync(userKey);
        var leases = snapshot.Leases.Select(l => new LeaseResponse(l.LeaseId, l.InstanceId, l.AcquiredAtMs, l.ExpiresAtMs)).ToList();
        return TypedResults.Ok(new LeaseListResponse(snapshot.Active, snapshot.Limit, leases));
    }

    internal static async Task<Results<Ok<LeaseRenewedResponse>, ProblemHttpResult>> RenewConnection(
        string user, string leaseId, RenewConnectionBody? body, HttpContext context, ResilientUsers users)
    {
        if (!TryUserAndLease(user, leaseId, out var userKey, out var leaseKey, out var field, out var error))
        {
            return ProblemResponses.Invalid(context, field, error);
        }

        if (!IsValidTtl(body?.TtlMs))
        {
            return ProblemResponses.Invalid(context, "ttlMs", TtlRangeMessage);
        }

        var (result, mode) = await users.RenewAsync(userKey, leaseKey, body?.TtlMs);
        ResilienceState.Mark(context, "leases", mode);
        if (!result.Found)
        {
            return ProblemResponses.Result(context,
                ProblemResponses.NotFound("lease-not-found", "The lease is unknown or has expired.", "Acquire a new lease."));
        }

        return TypedResults.Ok(new LeaseRenewedResponse(leaseKey, result.ExpiresAtMs));
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> ReleaseConnection(
        string user, string leaseId, HttpContext context, ResilientUsers users)
    {
        if (!TryUserAndLease(user, leaseId, out var userKey, out var leaseKey, out var field, out var error))
        {
            return ProblemResponses.Invalid(context, field, error);
        }

        var (_, mode) = await users.ReleaseAsync(userKey, leaseKey);
        ResilienceState.Mark(context, "leases", mode);
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Ok<ByteBudgetResponse>, ProblemHttpResult>> ConsumeBytes(
        string user, ConsumeBytesBody body, HttpContext context, ResilientUsers users)
    {
        if (!GrainKeys.TryUser(user, out var userKey, out var error))
        {
            return ProblemResponses.Invalid(context, "user", error);
        }

        if (body.Bytes is not { } bytes)
        {
            return ProblemResponses.Invalid(context, "bytes", "bytes is required.");
        }

        if (bytes < 0 || bytes > LeaseLimits.MaxBytesPerReport)
        {
            return ProblemResponses.Invalid(context, "bytes", $"bytes must be between 0 and {LeaseLimits.MaxBytesPerReport}.");
        }

        var (result, mode) = await users.ConsumeBytesAsync(userKey, bytes);
        ResilienceState.Mark(context, "bytes", mode);
        CoordinatorDiagnostics.Decision("bytes", result.Allowed);
        if (!result.Allowed)
        {
            var retryAfter = Math.Max(0, result.ResetAtMs - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            return ProblemResponses.Result(context,
                ProblemResponses.ByteBudgetExhausted(result.Budget, result.Used, result.Remaining, retryAfter, result.ResetAtMs));
        }

        return TypedResults.Ok(new ByteBudgetResponse(result.Used, result.Budget, result.Remaining, result.ResetAtMs));
    }

    internal static async Task<Results<Ok<UserStatusResponse>, ProblemHttpResult>> GetUser(string user, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryUser(user, out var userKey, out var error))
        {
            return ProblemResponses.Invalid(context, "user", error);
        }

        var leases = grains.Get<IUserLeaseGrain>(userKey).GetSnapshotAsync();
        var bytes = grains.Get<IUserByteBudgetGrain>(userKey).GetSnapshotAsync();
        var (l, b) = (await leases, await bytes);
        return TypedResults.Ok(new UserStatusResponse(l.Active, l.Limit, b.Used, b.Budget, b.ResetAtMs));
    }

    internal static async Task<Results<Ok<UserLimitsResponse>, ProblemHttpResult>> PutLimits(
        string user, UserLimitsBody body, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryUser(user, out var userKey, out var error))
        {
            return ProblemResponses.Invalid(context, "user", error);
        }

        // Validated here for a 400 before anything is written; the grains check again for direct callers.
        var limits = new UserLimits(body.MaxConnections, body.ByteBudget, body.BudgetWindowMs);
        LeaseLimits.ValidateLimits(limits);

        var leaseGrain = grains.Get<IUserLeaseGrain>(userKey);
        var budgetGrain = grains.Get<IUserByteBudgetGrain>(userKey);
        await Task.WhenAll(
            leaseGrain.SetConnectionLimitAsync(body.MaxConnections),
            budgetGrain.SetBudgetAsync(body.ByteBudget, body.BudgetWindowMs));

        var leases = await leaseGrain.GetSnapshotAsync();
        var bytes = await budgetGrain.GetSnapshotAsync();
        return TypedResults.Ok(new UserLimitsResponse(leases.Limit, bytes.Budget, bytes.BudgetWindowMs));
    }

    private static bool TryUserAndLease(string user, string leaseId, out string userKey, out string leaseKey, out string field, out string error)
    {
        (userKey, leaseKey) = (string.Empty, string.Empty);
        if (!GrainKeys.TryUser(user, out var u, out var e))
        {
            (field, error) = ("user", e);
            return false;
        }

        if (!GrainKeys.TryLeaseId(leaseId, out var l, out e))
        {
            (field, error) = ("leaseId", e);
            return false;
        }

        (userKey, leaseKey, field, error) = (u, l, string.Empty, string.Empty);
        return true;
    }

    private const string TtlRangeMessage = "ttlMs must be between 1000 and 86400000.";

    private static bool IsValidTtl(long? ttlMs) => ttlMs is null or (>= LeaseLimits.MinTtlMs and <= LeaseLimits.MaxTtlMs);
}
