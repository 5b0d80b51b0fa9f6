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
