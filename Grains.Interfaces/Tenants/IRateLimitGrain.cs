namespace Orleans.Coordinator.Grains.Interfaces.Tenants;

/// <summary>
/// One rate-limit counter (key: <see cref="GrainKeys.RateLimitCounter"/> or <see cref="GrainKeys.EnvoyCounter"/>).
/// A single writer, so concurrent checks against a limit L admit exactly L. Counters are kept in memory only:
/// a silo crash restarts the counter's window (as in Gubernator and envoyproxy/ratelimit with a fresh cache).
/// The caller passes the policy (the gateway caches tenant policies); a changed window or algorithm starts afresh.
/// </summary>
[Alias("coordinator.IRateLimitGrain")]
public interface IRateLimitGrain : IGrainWithStringKey
{
    /// <summary>Checks and, when allowed, charges <paramref name="cost"/> (0 peeks without counting).</summary>
    [Alias("Check")]
    Task<RateLimitResult> CheckAsync(RateLimitPolicy policy, long cost);

    /// <summary>Takes back a charge made in the window <paramref name="windowStartMs"/> (all-or-nothing batches).</summary>
    [Alias("Refund")]
    Task RefundAsync(RateLimitPolicy policy, long cost, long windowStartMs);
}

/// <summary>One decision inside a batch: the counter's key, its policy and the cost.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.RateLimitCheck")]
public sealed record RateLimitCheck([property: Id(0)] string CounterKey, [property: Id(1)] RateLimitPolicy Policy, [property: Id(2)] long Cost);

/// <summary>
/// Many independent rate-limit decisions in one call from a client: a stateless worker on the silo that
/// received the call passes each to its counter grain (<see cref="IRateLimitGrain"/>, the single writer), so
/// each decision is exactly what a direct call would decide. Used by <see cref="RateLimitCoalescer"/>.
/// </summary>
[Alias("coordinator.IRateLimitBatchGrain")]
public interface IRateLimitBatchGrain : IGrainWithIntegerKey
{
    /// <summary>Checks and charges each counter on its own (not all-or-nothing); results in the order given.</summary>
    [Alias("CheckMany")]
    Task<RateLimitResult[]> CheckManyAsync(RateLimitCheck[] checks);
}
