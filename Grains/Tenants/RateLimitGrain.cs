using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Grains.Tenants;

/// <summary>
/// Single writer over one <see cref="RateLimitCounter"/>, in memory only: decisions never wait on storage.
/// A crash restarts the counter's window (documented).
/// </summary>
internal sealed class RateLimitGrain(CoordinatorClock clock) : Grain, IRateLimitGrain
{
    private readonly RateLimitCounter _counter = new();

    public Task<RateLimitResult> CheckAsync(RateLimitPolicy policy, long cost)
    {
        RateLimitLimits.Validate(policy);
        RateLimitLimits.ValidateCost(cost);
        var o = _counter.Check(ToRule(policy), clock.NowMs, cost);
        return Task.FromResult(new RateLimitResult(o.Allowed, o.OverLimit, o.Counted, o.Limit, o.Remaining, o.ResetAfterMs, o.RetryAfterMs, o.WindowStartMs));
    }

    public Task RefundAsync(RateLimitPolicy policy, long cost, long windowStartMs)
    {
        RateLimitLimits.Validate(policy);
        RateLimitLimits.ValidateCost(cost);
        _counter.Refund(ToRule(policy), cost, windowStartMs);
        return Task.CompletedTask;
    }

    internal static RateLimitRule ToRule(RateLimitPolicy policy) => new(
        policy.Algorithm switch
        {
            RateLimitAlgorithm.SlidingWindow => RateLimitAlgorithmKind.SlidingWindow,
            RateLimitAlgorithm.TokenBucket => RateLimitAlgorithmKind.TokenBucket,
            _ => RateLimitAlgorithmKind.FixedWindow,
        },
        policy.Limit,
        policy.WindowMs,
        policy.RefillPerSecond,
        policy.Shadow);
}
