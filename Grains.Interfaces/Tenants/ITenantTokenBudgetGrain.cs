namespace Orleans.Coordinator.Grains.Interfaces.Tenants;

/// <summary>The period a token budget covers, in UTC.</summary>
public enum TokenBudgetPeriod
{
    /// <summary>Resets at 00:00 UTC.</summary>
    Day = 0,

    /// <summary>Resets at 00:00 UTC on the first of the month.</summary>
    Month = 1,
}

/// <summary>The answer to <see cref="ITenantTokenBudgetGrain.ReserveAsync"/>.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.TokenReserveResult")]
public sealed record TokenReserveResult(
    [property: Id(0)] bool Granted,
    [property: Id(1)] string? ReservationId,
    [property: Id(2)] long Remaining,
    [property: Id(3)] long ResetAtMs);

/// <summary>The answer to <see cref="ITenantTokenBudgetGrain.CommitAsync"/>.</summary>
/// <param name="Found">False when the reservation is unknown or expired.</param>
/// <param name="Returned">Reserved tokens not used, returned to the budget.</param>
/// <param name="Used">Tokens used in the period.</param>
/// <param name="Remaining">Budget left.</param>
[GenerateSerializer, Immutable, Alias("coordinator.TokenCommitResult")]
public sealed record TokenCommitResult(
    [property: Id(0)] bool Found,
    [property: Id(1)] long Returned,
    [property: Id(2)] long Used,
    [property: Id(3)] long Remaining);

/// <summary>A tenant's token budget as it stands.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.TokenBudgetSnapshot")]
public sealed record TokenBudgetSnapshot(
    [property: Id(0)] long Budget,
    [property: Id(1)] TokenBudgetPeriod Period,
    [property: Id(2)] long Used,
    [property: Id(3)] long Reserved,
    [property: Id(4)] long ResetAtMs);

/// <summary>Bounds on token budgets.</summary>
public static class TokenBudgetLimits
{
    /// <summary>Largest budget and largest single reservation or commit.</summary>
    public const long MaxTokens = 1_000_000_000_000;

    /// <summary>Longest reservation ttl: 1 hour.</summary>
    public const long MaxReservationTtlMs = 3_600_000;

    /// <summary>Shortest reservation ttl: 1 second.</summary>
    public const long MinReservationTtlMs = 1_000;

    /// <summary>Throws <see cref="CoordinatorValidationException"/> when a reservation's tokens or ttl are out of range.</summary>
    public static void ValidateReserve(long tokens, long ttlMs)
    {
        if (tokens < 1 || tokens > MaxTokens)
        {
            throw new CoordinatorValidationException("tokens", $"tokens must be between 1 and {MaxTokens}.");
        }

        if (ttlMs < MinReservationTtlMs || ttlMs > MaxReservationTtlMs)
        {
            throw new CoordinatorValidationException("ttlMs", $"ttlMs must be between {MinReservationTtlMs} and {MaxReservationTtlMs}.");
        }
    }

    /// <summary>Throws <see cref="CoordinatorValidationException"/> when committed tokens are out of range.</summary>
    public static void ValidateCommit(long actualTokens)
    {
        if (actualTokens < 0 || actualTokens > MaxTokens)
        {
            throw new CoordinatorValidationException("actualTokens", $"actualTokens must be between 0 and {MaxTokens}.");
        }
    }
}

/// <summary>
/// A tenant's LLM token budget per UTC day or month (key: the tenant id). Reservations, commits and budget
/// changes are persisted before the call returns; a reservation not committed within its ttl returns to
/// the budget by itself.
/// </summary>
[Alias("coordinator.ITenantTokenBudgetGrain")]
public interface ITenantTokenBudgetGrain : IGrainWithStringKey
{
    /// <summary>Sets the budget and its period.</summary>
    [Alias("SetBudget")]
    Task<TokenBudgetSnapshot> SetBudgetAsync(long budget, TokenBudgetPeriod period);

    /// <summary>Holds tokens for a call; null when the tenant has no budget.</summary>
    [Alias("Reserve")]
    Task<TokenReserveResult?> ReserveAsync(long tokens, long ttlMs);

    /// <summary>Records the tokens a reserved call really used; null when the tenant has no budget.</summary>
    [Alias("Commit")]
    Task<TokenCommitResult?> CommitAsync(string reservationId, long actualTokens);

    /// <summary>The budget, or null when the tenant has none.</summary>
    [Alias("GetSnapshot")]
    Task<TokenBudgetSnapshot?> GetSnapshotAsync();
}
