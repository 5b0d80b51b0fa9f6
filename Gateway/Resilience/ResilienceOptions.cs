using Orleans.Coordinator.Grains.Interfaces.Configuration;

namespace Orleans.Coordinator.Resilience;

/// <summary>What a feature does while the grain cluster cannot be reached.</summary>
public enum ClusterOutageMode
{
    /// <summary>Enforce with atomic counters in Redis (answers say <c>X-Coordinator-Mode: fallback</c>).</summary>
    Fallback,

    /// <summary>Refuse: 503 with problem details.</summary>
    Closed,

    /// <summary>Allow without enforcing (answers say <c>X-Coordinator-Mode: degraded</c>).</summary>
    Open,
}

/// <summary>What a feature does when Redis cannot be reached either (or the grains report that Redis failed).</summary>
public enum RedisOutageMode
{
    /// <summary>Refuse: 503 with problem details.</summary>
    Closed,

    /// <summary>Allow without enforcing (answers say <c>X-Coordinator-Mode: degraded</c>).</summary>
    Open,
}

/// <summary>
/// The <c>Resilience</c> configuration section of a cluster-mode gateway: the data-plane timeout, the
/// circuit breakers, and each feature's failure mode (ARCHITECTURE section 3 gives the defaults).
/// </summary>
public sealed class ResilienceOptions : IValidatableOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Resilience";

    /// <summary>
    /// The most a data-plane check (lease, bytes, rate limit, tokens, mapping lookup) waits for a cluster that does not
    /// answer, and then for Redis.
    /// </summary>
    public TimeSpan DataPlaneTimeout { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// The most a data-plane check waits for a slow grain call while the cluster answers (a ping, or other calls): the
    /// first call to a user's grains activates them and reads their state, which can take longer than
    /// <see cref="DataPlaneTimeout"/> on a busy machine. The fallback is for an unreachable cluster, not a slow call.
    /// A value below <see cref="DataPlaneTimeout"/> counts as <see cref="DataPlaneTimeout"/>.
    /// </summary>
    public TimeSpan SlowCallTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Calls to a dependency within <see cref="BreakerSamplingDuration"/> before its circuit breaker may open (Polly's
    /// <c>MinimumThroughput</c>; at least 2).
    /// </summary>
    public int BreakerMinimumThroughput { get; set; } = 5;

    /// <summary>
    /// The share of those calls that failed (timed out or met an outage) which opens the breaker, in (0, 1] (Polly's
    /// <c>FailureRatio</c>).
    /// </summary>
    public double BreakerFailureRatio { get; set; } = 0.5;

    /// <summary>
    /// Removed: the consecutive-failure threshold of the breakers before they became Polly failure-ratio breakers. Set, it
    /// stops the process at startup naming its replacements (<see cref="BreakerMinimumThroughput"/>,
    /// <see cref="BreakerFailureRatio"/>), so an old setting is not silently ignored.
    /// </summary>
    public int? BreakerFailureThreshold { get; set; }

    /// <summary>The window over which a breaker samples outcomes (Polly's <c>SamplingDuration</c>; at least 500 ms).</summary>
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long an open breaker answers at once before a probe tries the dependency again (Polly's <c>BreakDuration</c>; at least 500 ms).</summary>
    public TimeSpan BreakerOpenFor { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a recovery probe may take (the first call after an outage can be slow: connections, activations).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Connection leases while the cluster is unreachable.</summary>
    public ClusterOutageMode Leases { get; set; } = ClusterOutageMode.Fallback;

    /// <summary>Connection leases while Redis is unreachable too.</summary>
    public RedisOutageMode LeasesWithoutRedis { get; set; } = RedisOutageMode.Closed;

    /// <summary>Byte budgets while the cluster is unreachable.</summary>
    public ClusterOutageMode ByteBudgets { get; set; } = ClusterOutageMode.Fallback;

    /// <summary>Byte budgets while Redis is unreachable too.</summary>
    public RedisOutageMode ByteBudgetsWithoutRedis { get; set; } = RedisOutageMode.Closed;

    /// <summary>Rate limits (HTTP and Envoy RLS) while the cluster is unreachable.</summary>
    public ClusterOutageMode RateLimits { get; set; } = ClusterOutageMode.Fallback;

    /// <summary>Rate limits while Redis is unreachable too.</summary>
    public RedisOutageMode RateLimitsWithoutRedis { get; set; } = RedisOutageMode.Open;

    /// <summary>Token budgets while the cluster is unreachable.</summary>
    public ClusterOutageMode TokenBudgets { get; set; } = ClusterOutageMode.Fallback;

    /// <summary>Token budgets while Redis is unreachable too.</summary>
    public RedisOutageMode TokenBudgetsWithoutRedis { get; set; } = RedisOutageMode.Open;

    /// <summary>How old a mapping this gateway resolved may be and still be served when neither the cluster nor Redis answers.</summary>
    public TimeSpan MappingStaleFor { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How many mappings, user limits and tenant budgets this gateway remembers for outages (each table).</summary>
    public int RememberedEntries { get; set; } = 100_000;

    /// <summary>Describes every problem with these options; empty when they are usable.</summary>
    public IEnumerable<string> Validate()
    {
        if (DataPlaneTimeout < TimeSpan.FromMilliseconds(1) || DataPlaneTimeout > TimeSpan.FromSeconds(30))
        {
            yield return "Resilience:DataPlaneTimeout must be between 00:00:00.001 and 00:00:30.";
        }

        if (SlowCallTimeout < TimeSpan.FromMilliseconds(1) || SlowCallTimeout > TimeSpan.FromSeconds(30))
        {
            yield return "Resilience:SlowCallTimeout must be between 00:00:00.001 and 00:00:30.";
        }

        if (BreakerFailureThreshold is not null)
        {
            yield return "Resilience:BreakerFailureThreshold was replaced by Resilience:BreakerMinimumThroughput (calls in the sampling window before a breaker may open) and Resilience:BreakerFailureRatio: rename it.";
        }

        if (BreakerMinimumThroughput is < 2 or > 1000)
        {
            yield return "Resilience:BreakerMinimumThroughput must be between 2 and 1000.";
        }

        if (!(BreakerFailureRatio > 0 && BreakerFailureRatio <= 1))
        {
            yield return "Resilience:BreakerFailureRatio must be above 0 and at most 1.";
        }

        if (BreakerSamplingDuration < TimeSpan.FromMilliseconds(500) || BreakerSamplingDuration > TimeSpan.FromMinutes(5))
        {
            yield return "Resilience:BreakerSamplingDuration must be between 00:00:00.500 and 00:05:00.";
        }

        if (BreakerOpenFor < TimeSpan.FromMilliseconds(500) || BreakerOpenFor > TimeSpan.FromMinutes(5))
        {
            yield return "Resilience:BreakerOpenFor must be between 00:00:00.500 and 00:05:00.";
        }

        if (ProbeTimeout < TimeSpan.FromMilliseconds(10) || ProbeTimeout > TimeSpan.FromSeconds(30))
        {
            yield return "Resilience:ProbeTimeout must be between 00:00:00.010 and 00:00:30.";
        }

        foreach (var (name, mode) in new[] { ("Leases", Leases), ("ByteBudgets", ByteBudgets), ("RateLimits", RateLimits), ("TokenBudgets", TokenBudgets) })
        {
            if (!Enum.IsDefined(mode))
            {
                yield return $"Resilience:{name} must be Fallback, Closed or Open.";
            }
        }

        foreach (var (name, mode) in new[] { ("LeasesWithoutRedis", LeasesWithoutRedis), ("ByteBudgetsWithoutRedis", ByteBudgetsWithoutRedis), ("RateLimitsWithoutRedis", RateLimitsWithoutRedis), ("TokenBudgetsWithoutRedis", TokenBudgetsWithoutRedis) })
        {
            if (!Enum.IsDefined(mode))
            {
                yield return $"Resilience:{name} must be Closed or Open.";
            }
        }

        if (MappingStaleFor < TimeSpan.Zero || MappingStaleFor > TimeSpan.FromDays(7))
        {
            yield return "Resilience:MappingStaleFor must be between 00:00:00 and 7.00:00:00.";
        }

        if (RememberedEntries is < 0 or > 10_000_000)
        {
            yield return "Resilience:RememberedEntries must be between 0 and 10000000.";
        }
    }
}
