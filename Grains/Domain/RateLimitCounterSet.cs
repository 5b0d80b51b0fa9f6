using System.Runtime.InteropServices;

namespace Orleans.Coordinator.Grains.Domain;

/// <summary>
/// The counters one rate-limit shard owns, by counter key and rule: a counter's identity is its key together with
/// what defines its rule (algorithm, limit, window or refill rate; not the shadow flag), so two rules over one key
/// (an Envoy override beside the configured rule, a changed policy) never restart, shrink or share each other's
/// counter. Counters that remember nothing
/// (<see cref="RateLimitCounter.IsIdleAt"/>) are forgotten by a sweep at most every <c>sweepEveryMs</c>, run by the
/// next check, so memory follows the keys that are live rather than every key ever seen.
/// </summary>
public sealed class RateLimitCounterSet(long sweepEveryMs = 10_000)
{
    private readonly Dictionary<CounterId, RateLimitCounter> _counters = new();
    private long _nextSweepMs = long.MinValue;

    /// <summary>Counters held now.</summary>
    public int Count => _counters.Count;

    /// <summary>Checks (and when allowed, charges) <paramref name="cost"/> against the counter <paramref name="key"/>.</summary>
    public RateLimitOutcome Check(string key, RateLimitRule rule, long nowMs, long cost)
    {
        ArgumentNullException.ThrowIfNull(key);
        SweepIfDue(nowMs);
        ref var counter = ref CollectionsMarshal.GetValueRefOrAddDefault(_counters, CounterId.Of(key, rule), out _);
        counter ??= new RateLimitCounter();
        return counter.Check(rule, nowMs, cost);
    }

    /// <summary>Takes back a charge (no-op when the counter or its window is gone).</summary>
    public void Refund(string key, RateLimitRule rule, long cost, long windowStartMs)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(rule);
        if (_counters.TryGetValue(CounterId.Of(key, rule), out var counter))
        {
            counter.Refund(rule, cost, windowStartMs);
        }
    }

    /// <summary>Forgets every idle counter now; returns how many went.</summary>
    public int Sweep(long nowMs)
    {
        var before = _counters.Count;
        foreach (var (key, counter) in _counters)
        {
            if (counter.IsIdleAt(nowMs))
            {
                _counters.Remove(key);
            }
        }

        _nextSweepMs = nowMs + sweepEveryMs;
        return before - _counters.Count;
    }

    private void SweepIfDue(long nowMs)
    {
        if (nowMs >= _nextSweepMs)
        {
            Sweep(nowMs);
        }
    }

    /// <summary>A counter's identity: its key and its rule's shape (parameters the algorithm ignores are left out).</summary>
    private readonly record struct CounterId(string Key, RateLimitAlgorithmKind Algorithm, long Limit, long WindowMs, double RefillPerSecond)
    {
        public static CounterId Of(string key, RateLimitRule rule) => rule.Algorithm == RateLimitAlgorithmKind.TokenBucket
            ? new(key, rule.Algorithm, rule.Limit, 0, rule.RefillPerSecond)
            : new(key, rule.Algorithm, rule.Limit, rule.WindowMs, 0);
    }
}
