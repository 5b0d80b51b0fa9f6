using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Grains.Tenants;

/// <summary>
/// Single writer over the counters of one shard (<see cref="RateLimitCounterSet"/>), in memory only: decisions
/// never wait on storage. Kept active while its silo lives, so a quiet hour does not cost a daily window its
/// count; a crash restarts the windows (documented).
/// </summary>
[CollectionAgeLimit(AlwaysActive = true)]
internal sealed class RateLimitShardGrain(CoordinatorClock clock) : Grain, IRateLimitShardGrain
{
    private readonly RateLimitCounterSet _counters = new();
    private (RateLimitPolicy Policy, RateLimitRule Rule)? _lastRule;

    public Task<RateLimitResult[]> CheckManyAsync(RateLimitCheck[] checks)
    {
        ArgumentNullException.ThrowIfNull(checks);
        var shard = this.GetPrimaryKeyLong();
        foreach (var check in checks)
        {
            Validate(shard, check.CounterKey, check.Policy, check.Cost);
        }

        var now = clock.NowMs;
        var results = new RateLimitResult[checks.Length];
        for (var i = 0; i < checks.Length; i++)
        {
            var o = _counters.Check(checks[i].CounterKey, RuleOf(checks[i].Policy), now, checks[i].Cost);
            results[i] = new RateLimitResult(o.Allowed, o.OverLimit, o.Counted, o.Limit, o.Remaining, o.ResetAfterMs, o.RetryAfterMs, o.WindowStartMs);
        }

        return Task.FromResult(results);
    }

    public Task RefundManyAsync(RateLimitRefund[] refunds)
    {
        ArgumentNullException.ThrowIfNull(refunds);
        var shard = this.GetPrimaryKeyLong();
        foreach (var refund in refunds)
        {
            Validate(shard, refund.CounterKey, refund.Policy, refund.Cost);
        }

        foreach (var refund in refunds)
        {
            _counters.Refund(refund.CounterKey, RuleOf(refund.Policy), refund.Cost, refund.WindowStartMs);
        }

        return Task.CompletedTask;
    }

    private void Validate(long shard, string counterKey, RateLimitPolicy policy, long cost)
    {
        ArgumentNullException.ThrowIfNull(counterKey);
        if (_lastRule is not { } last || last.Policy != policy)
        {
            RateLimitLimits.Validate(policy); // a batch mostly carries one policy: validated once
        }

        RateLimitLimits.ValidateCost(cost, RateLimitLimits.MaxSummedCost); // one counter's share of a batch
        if (GrainKeys.RateLimitShard(counterKey) != shard)
        {
            // The caller computes shards with another shard count: deciding here would count the key in two places.
            throw new InvalidOperationException(
                $"rate-limit shard {shard} does not own this counter: the caller and the silo disagree on {nameof(GrainKeys.RateLimitShardCount)} ({GrainKeys.RateLimitShardCount} here).");
        }
    }

    /// <summary>The rule of a policy; a batch mostly carries one policy, so the last one is kept (records compare by value).</summary>
    private RateLimitRule RuleOf(RateLimitPolicy policy)
    {
        if (_lastRule is { } last && last.Policy == policy)
        {
            return last.Rule;
        }

        var rule = ToRule(policy);
        _lastRule = (policy, rule);
        return rule;
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
