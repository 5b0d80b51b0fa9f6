using CsCheck;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Domain;

/// <summary>
/// Property tests of every limiting algorithm over random policies within their documented bounds, random costs
/// (0, 1, around the limit, far above it) and random clock moves (forwards, backwards, across windows): what is
/// reported is always in range (remaining within [0, limit], reset and retry times within [0, 366 days]), and no
/// window, bucket or budget ever admits more than its limit. Seeded and bounded (a few seconds in all).
/// </summary>
public sealed class AlgorithmPropertyTests
{
    private const long Start = 1_767_225_600_000;
    private const int Cases = 1500;

    /// <summary>Limits biased to the edges: tiny, round, and the largest allowed.</summary>
    private static readonly Gen<long> Limits = Gen.Frequency(
        (4, Gen.Long[1, 20]),
        (2, Gen.Long[21, 100_000]),
        (1, Gen.Long[100_001, RateLimitLimits.MaxLimit]),
        (1, Gen.Const(RateLimitLimits.MaxLimit)));

    private static readonly Gen<RateLimitRule> Rules =
        Gen.Select(Gen.Int[0, 2], Limits, Gen.Frequency((3, Gen.Long[100, 120_000]), (1, Gen.Long[120_001, RateLimitLimits.MaxWindowMs])), Gen.Double[0, 1], Gen.Bool)
            .Select((algorithm, limit, window, refillPosition, shadow) =>
            {
                // A refill rate anywhere (log-uniformly) between the slowest and fastest the bounds allow for this limit.
                var min = RateLimitLimits.MinRefillPerSecond(limit);
                var refill = Math.Exp(Math.Log(min) + (refillPosition * (Math.Log(RateLimitLimits.MaxRefillPerSecond) - Math.Log(min))));
                return new RateLimitRule((RateLimitAlgorithmKind)algorithm, limit, window, Math.Clamp(refill, min, RateLimitLimits.MaxRefillPerSecond), shadow);
            });

    /// <summary>A step: move the clock (ms; negative goes backwards), then check this cost.</summary>
    private static Gen<(long Move, long Cost)[]> Steps(long limit) => Gen.Select(
        Gen.Frequency((5, Gen.Long[0, 2_000]), (2, Gen.Long[-5_000, -1]), (2, Gen.Long[2_001, 90_000_000]), (1, Gen.Long[-90_000_000, 0]), (1, Gen.Long[0, 40_000_000_000])),
        Gen.Frequency((4, Gen.Const(1L)), (2, Gen.Const(0L)), (2, Gen.Long[1, Math.Max(1, limit)]), (1, Gen.Const(limit)), (1, Gen.Const(limit + 1)), (1, Gen.Long[0, RateLimitLimits.MaxSummedCost])))
        .Array[1, 40];

    [Fact]
    public void RateLimitCounter_AnyRuleCostsAndClock_ReportsInRange_AndNeverAdmitsMoreThanTheLimit()
    {
        var cases = Rules.SelectMany(rule => Steps(rule.Limit).Select(steps => (rule, steps)));
        SeededProperty.ForAll(cases, c =>
        {
            var (rule, steps) = c;
            var counter = new RateLimitCounter();
            var now = Start;
            var latest = now;
            long admitted = 0;
            var perWindow = new Dictionary<long, long>();
            foreach (var (move, cost) in steps)
            {
                now += move;
                latest = Math.Max(latest, now);
                var o = counter.Check(rule, now, cost);

                Assert.InRange(o.Remaining, 0, rule.Limit);
                Assert.InRange(o.ResetAfterMs, 0, RateLimitLimits.MaxWindowMs);
                Assert.InRange(o.RetryAfterMs, 0, RateLimitLimits.MaxWindowMs);
                Assert.Equal(rule.Limit, o.Limit);
                if (o.Counted)
                {
                    Assert.True(cost > 0 && o.Allowed && !o.OverLimit, "a charge was made for a peek or an over-limit request");
                    admitted += cost;
                    perWindow[o.WindowStartMs] = perWindow.GetValueOrDefault(o.WindowStartMs) + cost;
                }
                else if (cost > 0)
                {
                    Assert.True(o.OverLimit, "a request with a cost was neither charged nor over the limit");
                    Assert.True(o.RetryAfterMs >= 1, "a refusal must say when to retry");
                    Assert.Equal(rule.Shadow, o.Allowed);
                }
            }

            if (rule.Algorithm == RateLimitAlgorithmKind.TokenBucket)
            {
                // Never more than a full bucket plus what refilled while the clock moved forwards (the clock going back refills nothing).
                var refilled = (latest - Start) * rule.RefillPerSecond / 1000d;
                Assert.True(admitted <= rule.Limit + refilled + 1e-6 * rule.Limit, $"bucket admitted {admitted}, more than {rule.Limit} + {refilled:0.###}");
            }
            else
            {
                Assert.All(perWindow, w => Assert.True(w.Value <= rule.Limit, $"window {w.Key} admitted {w.Value} over a limit of {rule.Limit}"));
            }
        }, seed: 2025, iterations: Cases);
    }

    [Fact]
    public void RateLimitCounterSet_TwoRulesOverOneKey_NeverShareACounter()
    {
        var cases = Gen.Select(Rules, Rules).Where(x => x.Item1.Limit != x.Item2.Limit || x.Item1.Algorithm != x.Item2.Algorithm);
        SeededProperty.ForAll(cases, c =>
        {
            var (a, b) = c;
            var set = new RateLimitCounterSet();
            var first = set.Check("k", a with { Shadow = false }, Start, 1);
            var other = set.Check("k", b with { Shadow = false }, Start, 0);
            var again = set.Check("k", a with { Shadow = false }, Start, 0);

            Assert.True(first.Counted);
            Assert.Equal(b.Limit, other.Remaining); // b's counter saw nothing of a's charge
            Assert.True(again.Remaining <= a.Limit - 1, "a's counter lost its charge after b was checked");
        }, seed: 2026, iterations: 500);
    }

    [Fact]
    public void ByteBudget_AnyBudgetBytesAndClock_ReportsInRange_AndNeverChargesMoreThanTheBudget()
    {
        var cases = Gen.Select(
            Gen.Frequency((3, Gen.Long[0, 10_000]), (1, Gen.Long[0, LeaseLimits.MaxByteBudget])),
            Gen.Long[LeaseLimits.MinBudgetWindowMs, LeaseLimits.MaxBudgetWindowMs],
            Gen.Select(Gen.Long[-100_000, 10_000_000_000], Gen.Frequency((3, Gen.Long[0, 5_000]), (1, Gen.Long[0, LeaseLimits.MaxBytesPerReport]))).Array[1, 40]);
        SeededProperty.ForAll(cases, c =>
        {
            var (budget, windowMs, steps) = c;
            var window = default(ByteBudgetWindow);
            var now = Start;
            var charged = new Dictionary<long, long>();
            var latest = now;
            foreach (var (move, bytes) in steps)
            {
                now += move;
                latest = Math.Max(latest, now);
                (window, var d) = ByteBudget.TryConsume(window, now, bytes, budget, windowMs);

                Assert.InRange(d.Remaining, 0, budget);
                Assert.InRange(d.Used, 0, budget);
                Assert.InRange(d.ResetAtMs, now + 1, latest + windowMs); // a clock gone backwards keeps its window
                if (d.Allowed)
                {
                    charged[window.StartMs] = charged.GetValueOrDefault(window.StartMs) + bytes;
                }
            }

            Assert.All(charged, w => Assert.True(w.Value <= budget, $"window {w.Key} charged {w.Value} over a budget of {budget}"));
        }, seed: 2027, iterations: Cases);
    }

    [Fact]
    public void TokenBudget_AnyReservationsCommitsAndClock_NeverHoldsMoreThanTheBudget()
    {
        var operation = Gen.Select(Gen.Long[-3_600_000, 40L * 86_400_000].Select(m => m / 97), Gen.Int[0, 2], Gen.Long[1, TokenBudgetLimits.MaxTokens], Gen.Long[TokenBudgetLimits.MinReservationTtlMs, TokenBudgetLimits.MaxReservationTtlMs], Gen.Double[0, 1]);
        var cases = Gen.Select(Gen.Frequency((3, Gen.Long[0, 1000]), (1, Gen.Long[0, TokenBudgetLimits.MaxTokens])), Gen.Bool, operation.Array[1, 40]);
        SeededProperty.ForAll(cases, c =>
        {
            var (budget, monthly, steps) = c;
            var now = Start;
            var book = new TokenBudgetBook(budget, monthly ? TokenBudgetPeriodKind.Month : TokenBudgetPeriodKind.Day, TokenBudgetBook.PeriodStart(now, monthly ? TokenBudgetPeriodKind.Month : TokenBudgetPeriodKind.Day), 0);
            var open = new List<(string Id, long Tokens)>();
            var n = 0;
            foreach (var (move, kind, drawn, ttl, fraction) in steps)
            {
                now += move;
                if (kind < 2 || open.Count == 0)
                {
                    var id = $"r{n++}";
                    var tokens = kind == 0 ? Math.Min(drawn, Math.Max(1, budget)) : drawn;
                    var outcome = book.Reserve(now, id, tokens, now + ttl);
                    Assert.InRange(outcome.Remaining, 0, budget);
                    Assert.True(outcome.ResetAtMs > Math.Min(now, book.PeriodStartMs), "the period resets in the past");
                    if (outcome.Granted)
                    {
                        open.Add((id, tokens));
                    }
                }
                else
                {
                    // Commit at most what was reserved: then used plus held never exceeds the budget.
                    var (id, held) = open[0];
                    open.RemoveAt(0);
                    var commit = book.Commit(now, id, (long)(held * fraction));
                    Assert.InRange(commit.Remaining, 0, budget);
                    Assert.InRange(commit.Returned, 0, held);
                }

                Assert.True(book.Used + book.Reserved(now) <= budget, $"used {book.Used} + reserved {book.Reserved(now)} exceed the budget {budget}");
            }
        }, seed: 2028, iterations: Cases);
    }

    [Fact]
    public void ConnectionLeaseBook_AnyAcquiresRenewsReleasesAndClock_NeverHoldsMoreThanTheLimit()
    {
        var step = Gen.Select(Gen.Long[-2_000, 120_000], Gen.Int[0, 3], Gen.Long[LeaseLimits.MinTtlMs, LeaseLimits.MaxTtlMs], Gen.Int[0, 3]);
        var cases = Gen.Select(Gen.Frequency((4, Gen.Int[0, 5]), (1, Gen.Int[0, LeaseLimits.MaxConnectionsCeiling])), step.Array[1, 60]);
        SeededProperty.ForAll(cases, c =>
        {
            var (limit, steps) = c;
            var book = new ConnectionLeaseBook();
            var now = Start;
            var n = 0;
            foreach (var (move, kind, ttl, elsewhere) in steps)
            {
                now += move;
                switch (kind)
                {
                    case 0 or 1:
                        book.PruneExpired(now); // as the grain does before each decision
                        var d = book.TryAcquire(now, $"l{n++}", "i1", ttl, limit, elsewhere);
                        Assert.InRange(d.Active, 0, Math.Max(limit, book.CountActive(now) + elsewhere));
                        if (d.Granted)
                        {
                            Assert.True(d.Active <= limit, $"granted with {d.Active} active over a limit of {limit}");
                            Assert.Equal(now + ttl, d.Lease!.ExpiresAtMs);
                        }
                        else
                        {
                            Assert.True(d.EarliestExpiryMs == 0 || d.EarliestExpiryMs > now, "a refusal's earliest expiry is in the past");
                        }

                        break;
                    case 2 when book.Leases.Count > 0:
                        book.Renew(now, book.Leases.First().LeaseId, ttl);
                        break;
                    default:
                        if (book.Leases.Count > 0)
                        {
                            book.Release(book.Leases.Last().LeaseId);
                        }

                        break;
                }

                Assert.True(book.CountActive(now) <= limit, $"{book.CountActive(now)} live leases over a limit of {limit}");
            }
        }, seed: 2029, iterations: Cases);
    }
}
