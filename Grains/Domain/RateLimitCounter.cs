namespace Orleans.Coordinator.Grains.Domain;

/// <summary>The rate-limit algorithms.</summary>
public enum RateLimitAlgorithmKind
{
    /// <summary>Counts per window aligned to multiples of the window length since the Unix epoch.</summary>
    FixedWindow,

    /// <summary>Two aligned windows, the previous one weighted by how much of it still overlaps the sliding window.</summary>
    SlidingWindow,

    /// <summary>A bucket of <c>limit</c> tokens refilled continuously at <c>refillPerSecond</c>.</summary>
    TokenBucket,
}

/// <summary>A limit as the algorithms see it.</summary>
/// <param name="Algorithm">Which algorithm.</param>
/// <param name="Limit">Requests per window, or bucket capacity.</param>
/// <param name="WindowMs">Window length (windows only).</param>
/// <param name="RefillPerSecond">Tokens added per second (bucket only).</param>
/// <param name="Shadow">Never deny; report what would have happened.</param>
public sealed record RateLimitRule(RateLimitAlgorithmKind Algorithm, long Limit, long WindowMs, double RefillPerSecond, bool Shadow);

/// <summary>The outcome of one check.</summary>
/// <param name="Allowed">The answer to give (always true in shadow mode).</param>
/// <param name="OverLimit">True when the limit was exceeded, whether or not shadow mode let it through.</param>
/// <param name="Counted">True when the cost was charged (never when over limit, never for a peek).</param>
/// <param name="Limit">The limit in force.</param>
/// <param name="Remaining">What is left after this check.</param>
/// <param name="ResetAfterMs">When the quota is fully available again (window end, or a full bucket).</param>
/// <param name="RetryAfterMs">When denied: the soonest a retry of the same cost can pass (0 when allowed).</param>
/// <param name="WindowStartMs">The window that was charged, to refund it exactly (0 for the bucket).</param>
public readonly record struct RateLimitOutcome(
    bool Allowed, bool OverLimit, bool Counted, long Limit, long Remaining, long ResetAfterMs, long RetryAfterMs, long WindowStartMs);

/// <summary>
/// One rate-limit counter: the state of one key under one rule. Pure: the caller passes the time.
/// A cost of 0 peeks without counting. A request that is over the limit is never charged, in shadow
/// mode too, so a refund is only needed for a charge that an all-or-nothing batch takes back.
/// The clock going backwards never opens a fresh window early nor refills a bucket.
/// </summary>
public sealed class RateLimitCounter
{
    private RateLimitRule? _rule;
    private long _windowStartMs;
    private long _count;
    private long _previousCount;
    private double _tokens;
    private long _lastRefillMs;

    /// <summary>Checks (and when allowed, charges) <paramref name="cost"/> at <paramref name="nowMs"/>.</summary>
    public RateLimitOutcome Check(RateLimitRule rule, long nowMs, long cost)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentOutOfRangeException.ThrowIfNegative(cost);
        Adopt(rule, nowMs);
        var outcome = rule.Algorithm switch
        {
            RateLimitAlgorithmKind.FixedWindow => CheckFixed(rule, nowMs, cost),
            RateLimitAlgorithmKind.SlidingWindow => CheckSliding(rule, nowMs, cost),
            _ => CheckBucket(rule, nowMs, cost),
        };

        return rule.Shadow && outcome.OverLimit ? outcome with { Allowed = true } : outcome;
    }

    /// <summary>Takes back a charge made at <paramref name="windowStartMs"/> (no-op once that window is gone).</summary>
    public void Refund(RateLimitRule rule, long cost, long windowStartMs)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (_rule is null || !SameShape(_rule, rule) || cost <= 0)
        {
            return;
        }

        switch (rule.Algorithm)
        {
            case RateLimitAlgorithmKind.TokenBucket:
                _tokens = Math.Min(rule.Limit, _tokens + cost);
                break;
            case RateLimitAlgorithmKind.SlidingWindow when windowStartMs == _windowStartMs - rule.WindowMs:
                _previousCount = Math.Max(0, _previousCount - cost);
                break;
            default:
                if (windowStartMs == _windowStartMs)
                {
                    _count = Math.Max(0, _count - cost);
                }

                break;
        }
    }

    /// <summary>
    /// True when the counter remembers nothing a fresh counter would not: no rule yet, its windows are over or empty,
    /// or its bucket is full again. Forgetting it then changes no later decision (and no refund: there is nothing
    /// left to take back).
    /// </summary>
    public bool IsIdleAt(long nowMs)
    {
        if (_rule is null)
        {
            return true;
        }

        return _rule.Algorithm switch
        {
            RateLimitAlgorithmKind.FixedWindow => _count == 0 || nowMs >= _windowStartMs + _rule.WindowMs,
            RateLimitAlgorithmKind.SlidingWindow => (_count == 0 && _previousCount == 0) || nowMs >= _windowStartMs + (2 * _rule.WindowMs),
            _ => _tokens + (Math.Max(0, nowMs - _lastRefillMs) * _rule.RefillPerSecond / 1000d) >= _rule.Limit,
        };
    }

    private void Adopt(RateLimitRule rule, long nowMs)
    {
        if (_rule is not null && SameShape(_rule, rule))
        {
            _rule = rule; // a new limit or shadow flag keeps the counts
            return;
        }

        // First use, or the algorithm or window changed: start afresh.
        _rule = rule;
        _windowStartMs = rule.Algorithm == RateLimitAlgorithmKind.TokenBucket ? 0 : AlignedStart(nowMs, rule.WindowMs);
        _count = 0;
        _previousCount = 0;
        _tokens = rule.Limit;
        _lastRefillMs = nowMs;
    }

    private static bool SameShape(RateLimitRule a, RateLimitRule b)
        => a.Algorithm == b.Algorithm && (a.Algorithm == RateLimitAlgorithmKind.TokenBucket || a.WindowMs == b.WindowMs);

    private RateLimitOutcome CheckFixed(RateLimitRule rule, long nowMs, long cost)
    {
        var start = AlignedStart(nowMs, rule.WindowMs);
        if (start > _windowStartMs)
        {
            (_windowStartMs, _count) = (start, 0);
        }

        var resetAfter = Math.Clamp(_windowStartMs + rule.WindowMs - nowMs, 0, rule.WindowMs);
        var remaining = Math.Max(0, rule.Limit - _count);
        return Decide(rule, cost, remaining, resetAfter, resetAfter, () => _count += cost);
    }

    private RateLimitOutcome CheckSliding(RateLimitRule rule, long nowMs, long cost)
    {
        var start = AlignedStart(nowMs, rule.WindowMs);
        if (start == _windowStartMs + rule.WindowMs)
        {
            (_previousCount, _count, _windowStartMs) = (_count, 0, start);
        }
        else if (start > _windowStartMs)
        {
            (_previousCount, _count, _windowStartMs) = (0, 0, start);
        }

        var intoWindow = Math.Clamp(nowMs - _windowStartMs, 0, rule.WindowMs);
        var previousWeight = (double)(rule.WindowMs - intoWindow) / rule.WindowMs;
        var estimate = (long)Math.Ceiling((_previousCount * previousWeight) + _count);
        var remaining = Math.Max(0, rule.Limit - estimate);
        var resetAfter = rule.WindowMs - intoWindow;

        // How long until the previous window's weight has fallen enough for this cost (or the window ends).
        var retryAfter = resetAfter;
        var room = rule.Limit - _count - cost;
        if (_previousCount > 0 && room >= 0)
        {
            var neededWeight = (double)room / _previousCount;
            retryAfter = Math.Max(1, (long)Math.Ceiling((previousWeight - neededWeight) * rule.WindowMs));
        }

        return Decide(rule, cost, remaining, resetAfter, retryAfter, () => _count += cost);
    }

    private RateLimitOutcome CheckBucket(RateLimitRule rule, long nowMs, long cost)
    {
        if (nowMs > _lastRefillMs)
        {
            _tokens = Math.Min(rule.Limit, _tokens + ((nowMs - _lastRefillMs) * rule.RefillPerSecond / 1000d));
            _lastRefillMs = nowMs;
        }

        var remaining = (long)Math.Floor(_tokens);
        var outcome = Decide(rule, cost, remaining, MsToRefill(rule, rule.Limit - _tokens), MsToRefill(rule, cost - _tokens), () => _tokens -= cost);
        return outcome.Counted
            ? outcome with { ResetAfterMs = MsToRefill(rule, rule.Limit - _tokens), Remaining = (long)Math.Floor(_tokens) }
            : outcome;
    }

    private RateLimitOutcome Decide(RateLimitRule rule, long cost, long remaining, long resetAfterMs, long retryAfterMs, Action charge)
    {
        if (cost == 0)
        {
            return new RateLimitOutcome(remaining > 0 || rule.Shadow, remaining <= 0, false, rule.Limit, remaining, resetAfterMs, 0, _windowStartMs);
        }

        if (cost > remaining)
        {
            // A cost above the limit can never pass; its retry time is when the quota is whole again. A refusal always
            // names a retry time of at least 1 ms.
            var retry = Math.Max(1, cost > rule.Limit ? resetAfterMs : retryAfterMs);
            return new RateLimitOutcome(false, true, false, rule.Limit, remaining, resetAfterMs, retry, _windowStartMs);
        }

        charge();
        return new RateLimitOutcome(true, false, true, rule.Limit, remaining - cost, resetAfterMs, 0, _windowStartMs);
    }

    // The 1 µs of slack keeps floating-point error from rounding a bound up: the slowest bucket allowed refills in
    // exactly 366 days, and must not be reported as 366 days and 1 ms.
    private static long MsToRefill(RateLimitRule rule, double tokens)
        => tokens <= 0 || rule.RefillPerSecond <= 0 ? 0 : (long)Math.Max(0, Math.Ceiling((tokens * 1000d / rule.RefillPerSecond) - 1e-3));

    private static long AlignedStart(long nowMs, long windowMs) => nowMs - (((nowMs % windowMs) + windowMs) % windowMs);
}
