namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>The <c>Cache</c> configuration section: the response cache's memory on each silo.</summary>
public sealed class CacheOptions : IValidatableOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Cache";

    /// <summary>
    /// Most bytes of response-cache entries one silo holds, over all namespaces it hosts (as counted by
    /// <see cref="Caching.ResponseCacheLimits.EntryBytes"/>). A write that would pass it first evicts its own namespace's
    /// least recently used entries; when that is not enough it is not stored. Default 1 GiB; 1 MiB to 1 TiB.
    /// </summary>
    public long MaxBytesPerSilo { get; set; } = 1L * 1024 * 1024 * 1024;

    /// <summary>How often a namespace drops its expired entries (default 30 s; 1 s to 1 hour). Expired entries are misses before that.</summary>
    public TimeSpan SweepPeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Gateways: how long a gateway answers a repeated hit from its own copy (never past the entry's expiry; values up to
    /// 64 KiB). Changes through any writer are pushed on the route channel and drop the copies at once; an entry the
    /// namespace evicted for room may be served until then. Default 5 s; 0 turns copies off; at most 1 hour.
    /// </summary>
    public TimeSpan GatewayCopyTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gateways: most bytes of values a gateway keeps in copies (default 64 MiB; 0 turns copies off).</summary>
    public long GatewayCopyBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Describes every problem with these options; empty when they are usable.</summary>
    public IEnumerable<string> Validate()
    {
        if (MaxBytesPerSilo is < 1024 * 1024 or > 1024L * 1024 * 1024 * 1024)
        {
            yield return "Cache:MaxBytesPerSilo must be between 1048576 (1 MiB) and 1099511627776 (1 TiB).";
        }

        if (GatewayCopyTtl < TimeSpan.Zero || GatewayCopyTtl > TimeSpan.FromHours(1))
        {
            yield return "Cache:GatewayCopyTtl must be between 00:00:00 and 01:00:00.";
        }

        if (GatewayCopyBytes is < 0 or > 16L * 1024 * 1024 * 1024)
        {
            yield return "Cache:GatewayCopyBytes must be between 0 and 17179869184 (16 GiB).";
        }

        if (SweepPeriod < TimeSpan.FromSeconds(1) || SweepPeriod > TimeSpan.FromHours(1))
        {
            yield return "Cache:SweepPeriod must be between 00:00:01 and 01:00:00.";
        }
    }
}
