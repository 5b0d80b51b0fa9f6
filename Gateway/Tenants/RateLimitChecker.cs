using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Tenants;

/// <summary>One counter to check: its grain key, its policy and the cost.</summary>
public sealed record CounterCheck(string CounterKey, RateLimitPolicy Policy, long Cost);

/// <summary>The outcome of an all-or-nothing set of checks.</summary>
/// <param name="Allowed">True when every check passed (shadow policies never block).</param>
/// <param name="Results">Each check's own result, in the order given; when the set was refused, nothing was counted.</param>
public sealed record CounterBatchOutcome(bool Allowed, IReadOnlyList<RateLimitResult> Results);

/// <summary>
/// Runs several counter checks as one decision: all are charged, or none. Each counter is charged in
/// parallel; if any refuses, the ones that charged are refunded. A refund can only give back, so the
/// set never admits more than every limit allows; while a refused batch is being undone, a concurrent
/// request may see less quota for a moment (never more).
/// </summary>
internal sealed class RateLimitChecker(IGrainFactory grains)
{
    public async Task<CounterBatchOutcome> CheckAllAsync(IReadOnlyList<CounterCheck> checks)
    {
        var outcome = await DecideAsync(checks);
        CoordinatorDiagnostics.Decision("ratelimit", outcome.Allowed);
        return outcome;
    }

    private async Task<CounterBatchOutcome> DecideAsync(IReadOnlyList<CounterCheck> checks)
    {
        ArgumentNullException.ThrowIfNull(checks);
        if (checks.Count == 1)
        {
            var single = await Counter(checks[0]).CheckAsync(checks[0].Policy, checks[0].Cost);
            return new CounterBatchOutcome(single.Allowed, [single]);
        }

        // The same counter twice is charged once with the summed cost, so the two cannot pass separately
        // where together they would not.
        var groups = checks
            .Select((check, index) => (check, index))
            .GroupBy(x => (x.check.CounterKey, x.check.Policy))
            .Select(g => (Key: g.Key, Indexes: g.Select(x => x.index).ToList(), Cost: g.Sum(x => x.check.Cost)))
            .ToList();
        var charged = await Task.WhenAll(groups.Select(g => grains.GetGrain<IRateLimitGrain>(g.Key.CounterKey).CheckAsync(g.Key.Policy, g.Cost)));
        var allowed = charged.All(r => r.Allowed);

        if (!allowed)
        {
            await Task.WhenAll(groups.Zip(charged)
                .Where(x => x.Second.Counted)
                .Select(x => grains.GetGrain<IRateLimitGrain>(x.First.Key.CounterKey).RefundAsync(x.First.Key.Policy, x.First.Cost, x.Second.WindowStartMs)));
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

    private IRateLimitGrain Counter(CounterCheck check) => grains.GetGrain<IRateLimitGrain>(check.CounterKey);
}
