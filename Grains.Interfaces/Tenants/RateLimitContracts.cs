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

/// <summary>
/// Bounds on policies and checks. They keep every derived number in range: a window, a full bucket's refill and
/// therefore every <c>resetAfterMs</c>, <c>retryAfterMs</c> and header value are at most <see cref="MaxWindowMs"/>
/// (366 days), never negative, and no count can overflow.
/// </summary>
public static class RateLimitLimits
{
    /// <summary>Largest limit: 4,294,967,295, the largest <c>requests_per_unit</c> of the Envoy RLS protocol (uint32).</summary>
    public const long MaxLimit = uint.MaxValue;

    /// <summary>Largest cost of one check (the Envoy RLS <c>hits_addend</c> is a uint32 as well).</summary>
    public const long MaxCost = MaxLimit;

    /// <summary>
    /// Largest cost one counter is charged in one call: a batch may name one counter <see cref="MaxBatch"/> times,
    /// and its costs are charged together.
    /// </summary>
    public const long MaxSummedCost = MaxCost * MaxBatch;

    /// <summary>Shortest window: 100 ms.</summary>
    public const long MinWindowMs = 100;

    /// <summary>Longest window, and the longest a token bucket may take to refill from empty: 366 days.</summary>
    public const long MaxWindowMs = 366L * 86_400_000;

    /// <summary>Fastest refill: <see cref="MaxLimit"/> tokens per second.</summary>
    public const double MaxRefillPerSecond = MaxLimit;

    /// <summary>Most checks in one batch.</summary>
    public const int MaxBatch = 64;

    /// <summary>Most policies per tenant.</summary>
    public const int MaxPoliciesPerTenant = 256;

    /// <summary>
    /// The slowest refill a bucket of <paramref name="limit"/> tokens may have: it must refill from empty within
    /// <see cref="MaxWindowMs"/>, i.e. <c>limit * 1000 / MaxWindowMs</c> tokens per second.
    /// </summary>
    public static double MinRefillPerSecond(long limit) => Math.Max(1, limit) * 1000d / MaxWindowMs;

    /// <summary>
    /// Throws <see cref="CoordinatorValidationException"/> naming the first bad field: <c>algorithm</c> not one of the
    /// three; <c>limit</c> outside 1 to <see cref="MaxLimit"/>; <c>windowMs</c> outside <see cref="MinWindowMs"/> to
    /// <see cref="MaxWindowMs"/> (window algorithms); <c>refillPerSecond</c> not finite (any algorithm), or not from
    /// <see cref="MinRefillPerSecond"/> to <see cref="MaxRefillPerSecond"/> (token bucket).
    /// </summary>
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

        // Whatever the algorithm: the policy is stored as JSON, which has no NaN or Infinity.
        if (!double.IsFinite(policy.RefillPerSecond))
        {
            throw new CoordinatorValidationException("refillPerSecond", "refillPerSecond must be a finite number.");
        }

        if (policy.Algorithm == RateLimitAlgorithm.TokenBucket)
        {
            var min = MinRefillPerSecond(policy.Limit);
            if (double.IsNaN(policy.RefillPerSecond) || policy.RefillPerSecond < min || policy.RefillPerSecond > MaxRefillPerSecond)
            {
                throw new CoordinatorValidationException("refillPerSecond", string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"refillPerSecond must be between {min:G6} (a bucket of {policy.Limit} must refill from empty within 366 days) and {MaxRefillPerSecond} for tokenBucket."));
            }
        }
        else if (policy.WindowMs < MinWindowMs || policy.WindowMs > MaxWindowMs)
        {
            throw new CoordinatorValidationException("windowMs", $"windowMs must be between {MinWindowMs} and {MaxWindowMs}.");
        }
    }

    /// <summary>Throws when <paramref name="cost"/> of one check is negative or above <see cref="MaxCost"/>.</summary>
    public static void ValidateCost(long cost) => ValidateCost(cost, MaxCost);

    /// <summary>Throws when <paramref name="cost"/> is negative or above <paramref name="max"/>.</summary>
    public static void ValidateCost(long cost, long max)
    {
        if (cost < 0 || cost > max)
        {
            throw new CoordinatorValidationException("cost", $"cost must be between 0 and {max}.");
        }
    }
}
