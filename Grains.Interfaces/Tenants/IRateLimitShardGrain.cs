namespace Orleans.Coordinator.Grains.Interfaces.Tenants;

/// <summary>
/// One of the <see cref="GrainKeys.RateLimitShardCount"/> owners of the rate-limit counters (integer key:
/// <see cref="GrainKeys.RateLimitShard"/> of the counter key). Every counter has exactly one owner, a single
/// writer, so concurrent checks against a limit L admit exactly L; one call decides many counters, so a caller
/// with many decisions in flight pays one grain call for many (see <see cref="RateLimitCoalescer"/>).
/// Counters are kept in memory only: a silo crash restarts their windows (as in Gubernator and
/// envoyproxy/ratelimit with a fresh cache). The caller passes each counter's policy (the gateway caches tenant
/// policies); a changed window or algorithm starts that counter afresh.
/// </summary>
[Alias("coordinator.IRateLimitShardGrain")]
public interface IRateLimitShardGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Checks and, when allowed, charges each check on its own (not all-or-nothing), in the order given; a cost of
    /// 0 peeks without counting. Every counter key must belong to this shard, or nothing is decided.
    /// </summary>
    [Alias("CheckMany")]
    Task<RateLimitResult[]> CheckManyAsync(RateLimitCheck[] checks);

    /// <summary>Takes back charges made in the windows given (all-or-nothing batches refused elsewhere).</summary>
    [Alias("RefundMany")]
    Task RefundManyAsync(RateLimitRefund[] refunds);
}

/// <summary>One decision: the counter's key (<see cref="GrainKeys.RateLimitCounter"/> or <see cref="GrainKeys.EnvoyCounter"/>), its policy and the cost.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.RateLimitCheck")]
public sealed record RateLimitCheck([property: Id(0)] string CounterKey, [property: Id(1)] RateLimitPolicy Policy, [property: Id(2)] long Cost);

/// <summary>A charge to take back: the counter, its policy, the cost and the window it was charged in (<see cref="RateLimitResult.WindowStartMs"/>).</summary>
[GenerateSerializer, Immutable, Alias("coordinator.RateLimitRefund")]
public sealed record RateLimitRefund(
    [property: Id(0)] string CounterKey,
    [property: Id(1)] RateLimitPolicy Policy,
    [property: Id(2)] long Cost,
    [property: Id(3)] long WindowStartMs);
