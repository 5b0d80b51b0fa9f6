namespace Orleans.Coordinator.Grains.Interfaces.Approvals;

/// <summary>Where a human-in-the-loop approval stands. <c>Approved</c>, <c>Denied</c> and <c>Expired</c> are final.</summary>
public enum ApprovalStatus
{
    /// <summary>Waiting for a reviewer.</summary>
    Pending = 0,

    /// <summary>A reviewer approved it.</summary>
    Approved = 1,

    /// <summary>A reviewer denied it.</summary>
    Denied = 2,

    /// <summary>Nobody decided before <see cref="ApprovalRecord.ExpiresAtMs"/>.</summary>
    Expired = 3,
}

/// <summary>A request for a human decision, as an agent makes it.</summary>
/// <param name="Agent">Who asks (1-128 printable ASCII characters).</param>
/// <param name="Action">What it wants to do (1-128 printable ASCII characters, e.g. <c>refund.issue</c>).</param>
/// <param name="PayloadJson">The details for the reviewer: a JSON value, at most 64 KiB of UTF-8.</param>
/// <param name="SessionId">The agent session it belongs to, if any.</param>
/// <param name="ExpiresInMs">How long reviewers have, ms (1 s to 30 days).</param>
[GenerateSerializer, Immutable, Alias("coordinator.ApprovalRequest")]
public sealed record ApprovalRequest(
    [property: Id(0)] string Agent,
    [property: Id(1)] string Action,
    [property: Id(2)] string PayloadJson,
    [property: Id(3)] string? SessionId,
    [property: Id(4)] long ExpiresInMs);

/// <summary>An approval as stored.</summary>
/// <param name="ApprovalId">32 lower-case hex characters.</param>
/// <param name="Tenant">The tenant it belongs to.</param>
/// <param name="Agent">Who asked.</param>
/// <param name="Action">What for.</param>
/// <param name="PayloadJson">The details, JSON.</param>
/// <param name="SessionId">The agent session, if any.</param>
/// <param name="CreatedAtMs">When it was asked (Unix ms).</param>
/// <param name="ExpiresAtMs">When it expires undecided (Unix ms).</param>
/// <param name="Status">Where it stands.</param>
/// <param name="Reviewer">Who decided (null while pending or expired).</param>
/// <param name="Comment">The reviewer's comment.</param>
/// <param name="DecidedAtMs">When it was decided or expired (0 while pending).</param>
[GenerateSerializer, Immutable, Alias("coordinator.ApprovalRecord")]
public sealed record ApprovalRecord(
    [property: Id(0)] string ApprovalId,
    [property: Id(1)] string Tenant,
    [property: Id(2)] string Agent,
    [property: Id(3)] string Action,
    [property: Id(4)] string PayloadJson,
    [property: Id(5)] string? SessionId,
    [property: Id(6)] long CreatedAtMs,
    [property: Id(7)] long ExpiresAtMs,
    [property: Id(8)] ApprovalStatus Status,
    [property: Id(9)] string? Reviewer,
    [property: Id(10)] string? Comment,
    [property: Id(11)] long DecidedAtMs);

/// <summary>The answer to <see cref="IApprovalGrain.DecideAsync"/>.</summary>
/// <param name="Decided">True for the one decision that counted; false when it was already decided or expired.</param>
/// <param name="Record">The approval as it stands; null when there is none.</param>
[GenerateSerializer, Immutable, Alias("coordinator.ApprovalDecision")]
public sealed record ApprovalDecision([property: Id(0)] bool Decided, [property: Id(1)] ApprovalRecord? Record);

/// <summary>One line of a tenant's approval queue.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.ApprovalSummary")]
public sealed record ApprovalSummary(
    [property: Id(0)] string ApprovalId,
    [property: Id(1)] string Agent,
    [property: Id(2)] string Action,
    [property: Id(3)] long CreatedAtMs,
    [property: Id(4)] long ExpiresAtMs,
    [property: Id(5)] ApprovalStatus Status);

/// <summary>A page of a tenant's approvals, oldest first; <paramref name="NextCursor"/> is null on the last page.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.ApprovalPage")]
public sealed record ApprovalPage([property: Id(0)] ApprovalSummary[] Items, [property: Id(1)] string? NextCursor);

/// <summary>Bounds on approvals.</summary>
public static class ApprovalLimits
{
    /// <summary>Longest agent, action and reviewer.</summary>
    public const int MaxNameLength = 128;

    /// <summary>Largest payload: 64 KiB of UTF-8 JSON.</summary>
    public const int MaxPayloadBytes = 64 * 1024;

    /// <summary>Longest comment.</summary>
    public const int MaxCommentLength = 4_096;

    /// <summary>Shortest and longest time to decide.</summary>
    public const long MinExpiresInMs = 1_000, MaxExpiresInMs = 30L * 24 * 3_600_000;

    /// <summary>Longest long poll.</summary>
    public const int MaxWaitMs = 60_000;

    /// <summary>Largest page.</summary>
    public const int MaxPageSize = 100;

    /// <summary>Decided approvals a tenant's queue keeps listing (the newest); pending ones are always listed.</summary>
    public const int DecidedKept = 1_000;

    /// <summary>Throws <see cref="CoordinatorValidationException"/> naming the first field out of range.</summary>
    public static void Validate(ApprovalRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Name(request.Agent, "agent");
        Name(request.Action, "action");
        if (request.PayloadJson is null || System.Text.Encoding.UTF8.GetByteCount(request.PayloadJson) > MaxPayloadBytes)
        {
            throw new CoordinatorValidationException("payload", $"payload is required and must be at most {MaxPayloadBytes} bytes of JSON.");
        }

        if (request.SessionId is not null && !GrainKeys.TryCacheKey(request.SessionId, out _, out _))
        {
            throw new CoordinatorValidationException("sessionId", "sessionId must be 1 to 256 printable ASCII characters without white space.");
        }

        if (request.ExpiresInMs is < MinExpiresInMs or > MaxExpiresInMs)
        {
            throw new CoordinatorValidationException("expiresInMs", $"expiresInMs must be between {MinExpiresInMs} and {MaxExpiresInMs}.");
        }
    }

    /// <summary>Throws <see cref="CoordinatorValidationException"/> for a reviewer or comment out of range.</summary>
    public static void ValidateDecision(string? reviewer, string? comment)
    {
        Name(reviewer, "reviewer");
        if (comment is { Length: > MaxCommentLength })
        {
            throw new CoordinatorValidationException("comment", $"comment must be at most {MaxCommentLength} characters.");
        }
    }

    /// <summary>Throws <see cref="CoordinatorValidationException"/> for a wait out of range.</summary>
    public static void ValidateWait(int waitMs)
    {
        if (waitMs is < 0 or > MaxWaitMs)
        {
            throw new CoordinatorValidationException("waitMs", $"waitMs must be between 0 and {MaxWaitMs}.");
        }
    }

    private static void Name(string? value, string field)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxNameLength || value.Any(c => c is < ' ' or > '~'))
        {
            throw new CoordinatorValidationException(field, $"{field} must be 1 to {MaxNameLength} printable ASCII characters.");
        }
    }
}

/// <summary>
/// One human-in-the-loop approval (key: <see cref="GrainKeys.Approval"/>). Every acknowledged change is persisted before
/// the answer; it is decided at most once (storage ETags settle two activations); an undecided approval becomes
/// <see cref="ApprovalStatus.Expired"/> at its time through a durable reminder, also when its silo was down then.
/// </summary>
[Alias("coordinator.IApprovalGrain")]
public interface IApprovalGrain : IGrainWithStringKey
{
    /// <summary>Creates the approval (pending) and answers it; a second call answers the stored one unchanged. Throws <see cref="CoordinatorValidationException"/>.</summary>
    [Alias("Create")]
    Task<ApprovalRecord> CreateAsync(string tenant, ApprovalRequest request);

    /// <summary>
    /// The approval, or null when there is none. With <paramref name="waitMs"/> (0 to 60,000) a pending approval is
    /// answered when it is decided or expires, or after <paramref name="waitMs"/> as it then stands (a long poll).
    /// </summary>
    [Alias("Get")]
    [ResponseTimeout("00:01:05")]
    Task<ApprovalRecord?> GetAsync(int waitMs = 0);

    /// <summary>Decides a pending approval: exactly one decision counts (<see cref="ApprovalDecision.Decided"/>); any other, or one after expiry, answers false with the approval as it stands.</summary>
    [Alias("Decide")]
    Task<ApprovalDecision> DecideAsync(bool approve, string reviewer, string? comment);
}

/// <summary>A tenant's approval queue (key: the tenant): what <c>GET .../approvals</c> lists. Kept by the approval grains.</summary>
[Alias("coordinator.IApprovalQueueGrain")]
public interface IApprovalQueueGrain : IGrainWithStringKey
{
    /// <summary>Adds or updates one line (persisted before the answer).</summary>
    [Alias("Upsert")]
    Task UpsertAsync(ApprovalSummary summary);

    /// <summary>Approvals oldest first, optionally of one status, after <paramref name="cursor"/>, at most <paramref name="limit"/> (1 to 100).</summary>
    [Alias("List")]
    Task<ApprovalPage> ListAsync(ApprovalStatus? status, string? cursor, int limit);
}
