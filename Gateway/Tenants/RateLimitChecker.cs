using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Resilience;

namespace Orleans.Coordinator.Tenants;

/// <summary>One counter to check: its grain key, its policy and the cost.</summary>
public sealed record CounterCheck(string CounterKey, RateLimitPolicy Policy, long Cost);

/// <summary>The outcome of an all-or-nothing set of checks.</summary>
/// <param name="Allowed">True when every check passed (shadow policies never block).</param>
/// <param name="Results">Each check's own result, in the order given; when the set was refused, nothing was counted.</param>
/// <param name="Mode">Decided by the grains, by the Redis fallback counters, or not enforced (degraded).</param>
public sealed record CounterBatchOutcome(bool Allowed, IReadOnlyList<RateLimitResult> Results, ServedMode Mode = ServedMode.Normal);

/// <summary>
/// Runs several counter checks as one decision: all are charged, or none. Each counter is charged in
/// parallel, through the gateway's <see cref="RateLimitCoalescer"/> (so concurrent requests share grain calls);
/// if any refuses, the ones that charged are refunded. A refund can only give back, so the set never admits more than every limit allows; while a refused batch is being undone, a concurrent
/// request may see less quota for a moment (never more).
/// </summary>
/// <remarks>
/// While the cluster is down the set is decided by one atomic Redis script over fixed windows (a sliding-window
/// policy counts as a fixed window of the same length, a token bucket as a fixed window of limit / refill
/// seconds); while Redis is down too, every check is allowed and the outcome says <see cref="ServedMode.Degraded"/>
/// (the defaults; see <see cref="ResilienceOptions"/>).
/// </remarks>
internal sealed class RateLimitChecker(RateLimitCoalescer counters, ResilienceState state, IServiceProvider services)
{
    public async Task<CounterBatchOutcome> CheckAllAsync(IReadOnlyList<CounterCheck> checks)
    {
        ArgumentNullException.ThrowIfNull(checks);
        var (outcome, mode) = await state.DecideAsync(
            state.Options.RateLimits,
            state.Options.RateLimitsWithoutRedis,
            () => DecideAsync(checks),
            () => FallbackAsync(checks),
            () => Unenforced(checks));
        CoordinatorDiagnostics.Decision("ratelimit", outcome.Allowed);
        ResilienceState.Count("ratelimit", mode);
        return outcome with { Mode = mode };
    }

    /// <summary>The answer when nothing can be enforced: allowed, nothing counted, the full limit left.</summary>
    public static CounterBatchOutcome Unenforced(IReadOnlyList<CounterCheck> checks)
        => new(true, [.. checks.Select(c => new RateLimitResult(true, false, false, c.Policy.Limit, c.Policy.Limit, 0, 0, 0))], ServedMode.Degraded);

    private async Task<CounterBatchOutcome> FallbackAsync(IReadOnlyList<CounterCheck> checks)
    {
        var groups = Group(checks);
        var counters = groups.Select(g => new FallbackCounter(GrainKeys.RedisFallbackCounterId(g.CounterKey, g.Policy), g.Policy.Limit, FallbackWindowMs(g.Policy), g.Cost, g.Policy.Shadow)).ToList();
        var (allowed, charged) = await services.GetRequiredService<FallbackStore>().CheckCountersAsync(counters);
        var results = new RateLimitResult[checks.Count];
        foreach (var (group, result) in groups.Zip(charged))
        {
            var over = result.Count + (allowed ? 0 : group.Cost) > group.Policy.Limit;
            var remaining = Math.Max(0, group.Policy.Limit - result.Count);
            var reported = new RateLimitResult(!over || group.Policy.Shadow, over, allowed, group.Policy.Limit, remaining, result.ResetAfterMs, over ? result.ResetAfterMs : 0, 0);
            foreach (var index in group.Indexes)
            {
                results[index] = reported;
            }
        }

        return new CounterBatchOutcome(allowed, results, ServedMode.Fallback);
    }

    /// <summary>
    /// The checks by counter: one key under one rule (<see cref="GrainKeys.RateLimitRuleTag"/>). The same counter named
    /// twice is charged once with the summed cost, so the two cannot pass separately where together they would not;
    /// the same key under two rules is two counters, each charged. A counter is in shadow mode only when every check
    /// of it is.
    /// </summary>
    private static List<CounterGroup> Group(IReadOnlyList<CounterCheck> checks)
        => [.. checks
            .Select((check, index) => (check, index))
            .GroupBy(x => (x.check.CounterKey, Rule: GrainKeys.RateLimitRuleTag(x.check.Policy)))
            .Select(g => new CounterGroup(
                g.Key.CounterKey,
                g.First().check.Policy with { Shadow = g.All(x => x.check.Policy.Shadow) },
                [.. g.Select(x => x.index)],
                g.Sum(x => x.check.Cost)))];

    private sealed record CounterGroup(string CounterKey, RateLimitPolicy Policy, List<int> Indexes, long Cost);

    private static long FallbackWindowMs(RateLimitPolicy policy) => policy.Algorithm == RateLimitAlgorithm.TokenBucket
        ? Math.Clamp((long)Math.Ceiling(policy.Limit / policy.RefillPerSecond * 1000), 1000, RateLimitLimits.MaxWindowMs)
        : policy.WindowMs;

    private async Task<CounterBatchOutcome> DecideAsync(IReadOnlyList<CounterCheck> checks)
    {
        if (checks.Count == 1)
        {
            var single = await counters.CheckAsync(checks[0].CounterKey, checks[0].Policy, checks[0].Cost);
            return new CounterBatchOutcome(single.Allowed, [single]);
        }

        var groups = Group(checks);
        var charged = await Task.WhenAll(groups.Select(g => counters.CheckAsync(g.CounterKey, g.Policy, g.Cost)));
        var allowed = charged.All(r => r.Allowed);

        if (!allowed)
        {
            await counters.RefundAsync(groups.Zip(charged)
                .Where(x => x.Second.Counted)
                .Select(x => new RateLimitRefund(x.First.CounterKey, x.First.Policy, x.First.Cost, x.Second.WindowStartMs)));
        }

        var results = new RateLimitResult[checks.Count];
        foreach (var (group, result) in groups.Zip(charged))
        {
            var reported = !allowed && result.Counted
                ? result with { Counted = false, Remaining = Math.Min(result.Limit, result.Remaining + group.Cost) }
                : result;
            foreach (var index in group.Indexes)
            {
                results[index] = reported;
            }
        }

        return new CounterBatchOutcome(allowed, results);
    }
}
