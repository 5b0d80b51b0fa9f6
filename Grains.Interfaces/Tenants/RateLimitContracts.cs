namespace Orleans.Coordinator.Grains.Interfaces.Tenants;

/// <summary>The algorithm of a rate-limit policy.</summary>
public enum RateLimitAlgorithm
{
    /// <summary>Counts per window aligned to multiples of <c>windowMs</c> since the Unix epoch.</summary>
    FixedWindow = 0,

    /// <summary>Sliding window counter: the previous aligned window weighted by its remaining overlap.</summary>
    SlidingWindow = 1,

    /// <summary>A bucket of <c>limit</c> tokens refilled at <c>refillPerSecond</c>.</summary>
    TokenBucket = 2,
}

/// <summary>A named rate-limit policy of a tenant.</summary>
/// <param name="Algorithm">The algorithm.</param>
/// <param name="Limit">Requests per window, or the bucket's capacity.</param>
/// <param name="WindowMs">Window length, for the window algorithms.</param>
/// <param name="RefillPerSecond">Tokens per second, for the bucket.</param>
/// <param name="Shadow">Never deny; report what would have happened.</param>
[GenerateSerializer, Immutable, Alias("coordinator.RateLimitPolicy")]
public sealed record RateLimitPolicy(
    [property: Id(0)] RateLimitAlgorithm Algorithm,
    [property: Id(1)] long Limit,
    [property: Id(2)] long WindowMs,
    [property: Id(3)] double RefillPerSecond,
    [property: Id(4)] bool Shadow);

/// <summary>The answer of one rate-limit check.</summary>
/// <param name="Allowed">The answer to give (true in shadow mode even when over the limit).</param>
/// <param name="OverLimit">The limit was exceeded (in shadow mode: what it would have done).</param>
/// <param name="Counted">The cost was charged.</param>
/// <param name="Limit">The policy's limit.</param>
/// <param name="Remaining">What is left.</param>
/// <param name="ResetAfterMs">When the quota is whole again.</param>
/// <param name="RetryAfterMs">When denied, the soonest the same cost can pass.</param>
/// <param name="WindowStartMs">The window charged, for <see cref="IRateLimitShardGrain.RefundManyAsync"/>.</param>
[GenerateSerializer, Immutable, Alias("coordinator.RateLimitResult")]
public sealed record RateLimitResult(
    [property: Id(0)] bool Allowed,
    [property: Id(1)] bool OverLimit,
    [property: Id(2)] bool Counted,
    [property: Id(3)] long Limit,
    [property: Id(4)] long Remaining,
    [property: Id(5)] long ResetAfterMs,
    [property: Id(6)] long RetryAfterMs,
    [property: Id(7)] long WindowStartMs);

/// <summary>Bounds on policies and checks.</summary>
public static class RateLimitLimits
{
    /// <summary>Largest limit.</summary>
    public const long MaxLimit = 1_000_000_000;

    /// <summary>Shortest window: 100 ms.</summary>
    public const long MinWindowMs = 100;

    /// <summary>Longest window: 366 days.</summary>
    public const long MaxWindowMs = 366L * 86_400_000;

    /// <summary>Most checks in one batch.</summary>
    public const int MaxBatch = 64;

    /// <summary>Most policies per tenant.</summary>
    public const int MaxPoliciesPerTenant = 256;

    /// <summary>Throws <see cref="CoordinatorValidationException"/> naming the first bad field.</summary>
    public static void Validate(RateLimitPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (!Enum.IsDefined(policy.Algorithm))
        {
            throw new CoordinatorValidationException("algorithm", "algorithm must be fixedWindow, slidingWindow or tokenBucket.");
        }

        if (policy.Limit < 1 || policy.Limit > MaxLimit)
        {
            throw new CoordinatorValidationException("limit", $"limit must be between 1 and {MaxLimit}.");
        }

        if (policy.Algorithm == RateLimitAlgorithm.TokenBucket)
        {
            if (!(policy.RefillPerSecond > 0) || policy.RefillPerSecond > MaxLimit || double.IsNaN(policy.RefillPerSecond))
            {
                throw new CoordinatorValidationException("refillPerSecond", "refillPerSecond must be greater than 0 for tokenBucket.");
            }
        }
        else if (policy.WindowMs < MinWindowMs || policy.WindowMs > MaxWindowMs)
        {
            throw new CoordinatorValidationException("windowMs", $"windowMs must be between {MinWindowMs} and {MaxWindowMs}.");
        }
    }

    /// <summary>Throws when <paramref name="cost"/> is negative or above <see cref="MaxLimit"/>.</summary>
    public static void ValidateCost(long cost)
    {
        if (cost < 0 || cost > MaxLimit)
        {
            throw new CoordinatorValidationException("cost", $"cost must be between 0 and {MaxLimit}.");
        }
    }
}
