using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Coordination;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Apis;

/// <summary>Body of <c>POST /v1/locks/{name}/acquire</c>: ttl 100 ms to 1 h, wait 0 to 60 s (default 0).</summary>
public sealed record LockAcquireBody(string? Owner, long? TtlMs, long? WaitMs);

/// <summary>Body of renew and release.</summary>
public sealed record LockHolderBody(string? Owner, long? FencingToken, long? TtlMs);

/// <summary>Body of <c>POST /v1/locks/{name}/validate</c>.</summary>
public sealed record LockValidateBody(long? FencingToken);

/// <summary>A grant.</summary>
public sealed record LockGrantResponse(long FencingToken, long ExpiresAtMs);

/// <summary>A renewed or released lock.</summary>
public sealed record LockUpdateResponse(bool Succeeded, long ExpiresAtMs);

/// <summary>Whether a token is still the newest.</summary>
public sealed record LockValidationResponse(bool Newest, bool Held, long CurrentToken, int Waiting);

/// <summary>Provisioning locks with fencing tokens.</summary>
public static class LocksApi
{
    /// <summary>Maps <c>/v1/locks</c>.</summary>
    public static RouteGroupBuilder MapLocksApi(this IEndpointRouteBuilder app)
    {
        var locks = app.MapGroup("/v1/locks/{name}").WithTags("Locks").RequireAuthorization(CoordinatorPolicies.Client);
        locks.MapPost("/acquire", Acquire).WithName("AcquireLock").WithSummary("Take the lock; with waitMs, wait (first come, first served) until it is free.");
        locks.MapPost("/renew", Renew).WithName("RenewLock").WithSummary("Extend a held lock.");
        locks.MapPost("/release", Release).WithName("ReleaseLock").WithSummary("Release a held lock.");
        locks.MapPost("/validate", Validate).WithName("ValidateFencingToken").WithSummary("Is this token still the newest?");
        return locks;
    }

    internal static async Task<Results<Ok<LockGrantResponse>, ProblemHttpResult>> Acquire(
        string name, LockAcquireBody body, HttpContext context, IGrainFactory grains, IOptions<CoordinatorClusterOptions> cluster)
    {
        if (!GrainKeys.TryLockName(name, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "name", error);
        }

        // The grain method's own response timeout covers the longest wait; bound this call by its wait plus the
        // cluster's response timeout, so a call caught on a silo that died fails (503) as soon as any other would.
        var bound = TimeSpan.FromMilliseconds(Math.Clamp(body.WaitMs ?? 0, 0, LockLimits.MaxWaitMs)) + cluster.Value.ResponseTimeout;
        var result = await grains.Get<IDistributedLockGrain>(key).AcquireAsync(body.Owner ?? string.Empty, body.TtlMs ?? 30_000, body.WaitMs ?? 0).WaitAsync(bound);
        CoordinatorDiagnostics.Decision("locks", result.Granted);
        if (!result.Granted)
        {
            var problem = ProblemResponses.Conflict("lock-held", "The lock is held by someone else.", "Retry after it expires, or acquire with waitMs.");
            problem.Extensions["holder"] = result.Holder;
            problem.Extensions["expiresAtMs"] = result.ExpiresAtMs;
            problem.Extensions["retryAfterMs"] = Math.Max(1, result.ExpiresAtMs - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            return ProblemResponses.Result(context, problem);
        }

        return TypedResults.Ok(new LockGrantResponse(result.FencingToken, result.ExpiresAtMs));
    }

    internal static Task<Results<Ok<LockUpdateResponse>, ProblemHttpResult>> Renew(string name, LockHolderBody body, HttpContext context)
        => UpdateAsync(name, body, context, (grain, owner, token) => grain.RenewAsync(owner, token, body.TtlMs ?? 30_000));

    internal static Task<Results<Ok<LockUpdateResponse>, ProblemHttpResult>> Release(string name, LockHolderBody body, HttpContext context)
        => UpdateAsync(name, body, context, (grain, owner, token) => grain.ReleaseAsync(owner, token));

    internal static async Task<Results<Ok<LockValidationResponse>, ProblemHttpResult>> Validate(string name, LockValidateBody body, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryLockName(name, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "name", error);
        }

        if (body.FencingToken is not { } token)
        {
            return ProblemResponses.Invalid(context, "fencingToken", "fencingToken is required.");
        }

        var v = await grains.Get<IDistributedLockGrain>(key).ValidateAsync(token);
        return TypedResults.Ok(new LockValidationResponse(v.Newest, v.Held, v.CurrentToken, v.Waiting));
    }

    private static async Task<Results<Ok<LockUpdateResponse>, ProblemHttpResult>> UpdateAsync(
        string name, LockHolderBody body, HttpContext context, Func<IDistributedLockGrain, string, long, Task<LockUpdateResult>> call)
    {
        if (!GrainKeys.TryLockName(name, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "name", error);
        }

        if (body.FencingToken is not { } token)
        {
            return ProblemResponses.Invalid(context, "fencingToken", "fencingToken is required.");
        }

        var grains = context.RequestServices.GetRequiredService<IGrainFactory>();
        var result = await call(grains.Get<IDistributedLockGrain>(key), body.Owner ?? string.Empty, token);
        if (!result.Known)
        {
            return ProblemResponses.Result(context, ProblemResponses.NotFound("lock-not-found", "No such lock.", "The lock was never acquired."));
        }

        if (!result.Succeeded)
        {
            return ProblemResponses.Result(context, ProblemResponses.Conflict("lock-not-held", "You do not hold this lock with this token.",
                "It expired, was released, or was taken by a newer holder: stop, and acquire again."));
        }

        return TypedResults.Ok(new LockUpdateResponse(true, result.ExpiresAtMs));
    }
}
