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

    /// <summary>Describes every problem with these options; empty when they are usable.</summary>
    public IEnumerable<string> Validate()
    {
        if (MaxBytesPerSilo is < 1024 * 1024 or > 1024L * 1024 * 1024 * 1024)
        {
            yield return "Cache:MaxBytesPerSilo must be between 1048576 (1 MiB) and 1099511627776 (1 TiB).";
        }

        if (SweepPeriod < TimeSpan.FromSeconds(1) || SweepPeriod > TimeSpan.FromHours(1))
        {
            yield return "Cache:SweepPeriod must be between 00:00:01 and 01:00:00.";
        }
    }
}
