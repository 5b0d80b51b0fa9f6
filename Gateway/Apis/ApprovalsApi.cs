using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Approvals;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Apis;

/// <summary>Body of <c>POST /v1/tenants/{tenant}/approvals</c>.</summary>
/// <param name="Agent">Who asks.</param>
/// <param name="Action">What it wants to do.</param>
/// <param name="Payload">Any JSON value for the reviewer (at most 64 KiB).</param>
/// <param name="SessionId">The agent session, if any.</param>
/// <param name="ExpiresInMs">How long reviewers have (1 s to 30 days).</param>
public sealed record ApprovalBody(string? Agent, string? Action, JsonElement? Payload, string? SessionId, long? ExpiresInMs);

/// <summary>Body of <c>POST .../approvals/{id}/decision</c>: <c>decision</c> is <c>approve</c> or <c>deny</c>.</summary>
public sealed record ApprovalDecisionBody(string? Decision, string? Reviewer, string? Comment);

/// <summary>An approval as answered.</summary>
public sealed record ApprovalResponse(
    string ApprovalId, string Agent, string Action, JsonElement Payload, string? SessionId, string Status,
    long CreatedAtMs, long ExpiresAtMs, string? Reviewer, string? Comment, long DecidedAtMs);

/// <summary>The answer to a create.</summary>
public sealed record ApprovalCreatedResponse(string ApprovalId, string Status, long ExpiresAtMs);

/// <summary>One line of a listing.</summary>
public sealed record ApprovalListItem(string ApprovalId, string Agent, string Action, string Status, long CreatedAtMs, long ExpiresAtMs);

/// <summary>A page of a listing; <c>nextCursor</c> is null on the last page.</summary>
public sealed record ApprovalListResponse(IReadOnlyList<ApprovalListItem> Items, string? NextCursor);

/// <summary>
/// Human-in-the-loop approvals (LangGraph interrupts, Temporal signals): an agent asks, a reviewer decides exactly
/// once, or the request expires at its time. Fails hard (503) when its state cannot be read or written.
/// </summary>
public static class ApprovalsApi
{
    /// <summary>Maps <c>/v1/tenants/{tenant}/approvals</c>.</summary>
    public static RouteGroupBuilder MapApprovalsApi(this IEndpointRouteBuilder app)
    {
        var approvals = app.MapGroup("/v1/tenants/{tenant}/approvals").WithTags("Approvals").RequireAuthorization(CoordinatorPolicies.Client);
        approvals.MapPost("/", Create).WithName("CreateApproval").WithSummary("Ask for a human decision; it expires undecided after expiresInMs.");
        approvals.MapGet("/", List).WithName("ListApprovals").WithSummary("Approvals oldest first, by status, paginated with a cursor.");
        approvals.MapGet("/{approvalId}", Get).WithName("GetApproval").WithSummary("An approval; with waitMs, waits for its decision (long poll).");
        approvals.MapPost("/{approvalId}/decision", Decide).WithName("DecideApproval").WithSummary("Approve or deny, exactly once (409 already-decided after).");
        return approvals;
    }

    internal static async Task<Results<Created<ApprovalCreatedResponse>, ProblemHttpResult>> Create(
        string tenant, ApprovalBody body, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(tenant, out var tenantKey, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        if (body.Payload is not { } payload || payload.ValueKind == JsonValueKind.Undefined)
        {
            return ProblemResponses.Invalid(context, "payload", "payload is required (any JSON value).");
        }

        if (body.ExpiresInMs is null)
        {
            return ProblemResponses.Invalid(context, "expiresInMs", "expiresInMs is required.");
        }

        var request = new ApprovalRequest(body.Agent!, body.Action!, payload.GetRawText(), body.SessionId, body.ExpiresInMs.Value);
        ApprovalLimits.Validate(request); // 400 naming the field, through the exception handler
        var id = GrainKeys.NewOpaqueId();
        var record = await grains.Get<IApprovalGrain>(GrainKeys.Approval(tenantKey, id)).CreateAsync(tenantKey, request);
        return TypedResults.Created($"/v1/tenants/{tenant}/approvals/{id}", new ApprovalCreatedResponse(record.ApprovalId, Status(record.Status), record.ExpiresAtMs));
    }

    internal static async Task<Results<Ok<ApprovalListResponse>, ProblemHttpResult>> List(
        string tenant, string? status, string? cursor, string? limit, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(tenant, out var tenantKey, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        ApprovalStatus? wanted = null;
        if (status is not null)
        {
            if (!TryStatus(status, out var parsed))
            {
                return ProblemResponses.Invalid(context, "status", "status must be pending, approved, denied or expired.");
            }

            wanted = parsed;
        }

        if (!ProblemResponses.TryQueryNumber(context, "limit", limit, 50, 1, ApprovalLimits.MaxPageSize, out var size, out var badLimit))
        {
            return badLimit;
        }

        var page = await grains.Get<IApprovalQueueGrain>(tenantKey).ListAsync(wanted, cursor, size);
        return TypedResults.Ok(new ApprovalListResponse(
            [.. page.Items.Select(i => new ApprovalListItem(i.ApprovalId, i.Agent, i.Action, Status(i.Status), i.CreatedAtMs, i.ExpiresAtMs))], page.NextCursor));
    }

    internal static async Task<Results<Ok<ApprovalResponse>, ProblemHttpResult>> Get(
        string tenant, string approvalId, string? waitMs, HttpContext context, IGrainFactory grains)
    {
        if (!TryApproval(tenant, approvalId, context, out var grainKey, out var invalid))
        {
            return invalid;
        }

        if (!ProblemResponses.TryQueryNumber(context, "waitMs", waitMs, 0, 0, ApprovalLimits.MaxWaitMs, out var wait, out var badWait))
        {
            return badWait;
        }

        var record = await grains.Get<IApprovalGrain>(grainKey).GetAsync(wait);
        return record is null ? NotFound(context) : TypedResults.Ok(ToResponse(record));
    }

    internal static async Task<Results<Ok<ApprovalResponse>, ProblemHttpResult>> Decide(
        string tenant, string approvalId, ApprovalDecisionBody body, HttpContext context, IGrainFactory grains)
    {
        if (!TryApproval(tenant, approvalId, context, out var grainKey, out var invalid))
        {
            return invalid;
        }

        if (body.Decision is not ("approve" or "deny"))
        {
            return ProblemResponses.Invalid(context, "decision", "decision must be approve or deny.");
        }

        ApprovalLimits.ValidateDecision(body.Reviewer, body.Comment);
        var result = await grains.Get<IApprovalGrain>(grainKey).DecideAsync(body.Decision == "approve", body.Reviewer!, body.Comment);
        if (result.Record is null)
        {
            return NotFound(context);
        }

        if (!result.Decided)
        {
            var problem = ProblemResponses.Conflict("already-decided", "The approval was already decided or has expired.",
                $"It is {Status(result.Record.Status)}; only the first decision counts.");
            problem.Extensions["approvalStatus"] = Status(result.Record.Status);
            return ProblemResponses.Result(context, problem);
        }

        return TypedResults.Ok(ToResponse(result.Record));
    }

    private static bool TryApproval(string tenant, string approvalId, HttpContext context, [NotNullWhen(true)] out string? grainKey, [NotNullWhen(false)] out ProblemHttpResult? invalid)
    {
        grainKey = null;
        if (!GrainKeys.TryTenant(tenant, out var tenantKey, out var error))
        {
            invalid = ProblemResponses.Invalid(context, "tenant", error);
            return false;
        }

        if (!GrainKeys.TryOpaqueId(approvalId, "approvalId", out var id, out error))
        {
            invalid = ProblemResponses.Invalid(context, "approvalId", error);
            return false;
        }

        grainKey = GrainKeys.Approval(tenantKey, id);
        invalid = null;
        return true;
    }

    private static ProblemHttpResult NotFound(HttpContext context)
        => ProblemResponses.Result(context, ProblemResponses.NotFound("approval-not-found", "The tenant has no approval with this id."));

    private static bool TryStatus(string text, out ApprovalStatus status)
    {
        status = text switch
        {
            "pending" => ApprovalStatus.Pending,
            "approved" => ApprovalStatus.Approved,
            "denied" => ApprovalStatus.Denied,
            "expired" => ApprovalStatus.Expired,
            _ => (ApprovalStatus)(-1),
        };
        return Enum.IsDefined(status);
    }

    private static string Status(ApprovalStatus status) => status switch
    {
        ApprovalStatus.Approved => "approved",
        ApprovalStatus.Denied => "denied",
        ApprovalStatus.Expired => "expired",
        _ => "pending",
    };

    private static ApprovalResponse ToResponse(ApprovalRecord r)
    {
        using var payload = JsonDocument.Parse(r.PayloadJson);
        return new ApprovalResponse(r.ApprovalId, r.Agent, r.Action, payload.RootElement.Clone(), r.SessionId, Status(r.Status),
            r.CreatedAtMs, r.ExpiresAtMs, r.Reviewer, r.Comment, r.DecidedAtMs);
    }
}
