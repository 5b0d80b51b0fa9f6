using Orleans.Coordinator.Grains.Interfaces.Leases;

namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>The <c>Leases</c> configuration section: defaults for users without their own limits.</summary>
public sealed class LeaseOptions : IValidatableOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Leases";

    /// <summary>Concurrent connections a user may hold.</summary>
    public int DefaultMaxConnections { get; set; } = 10;

    /// <summary>Bytes a user may transfer per budget window (default 1 GiB).</summary>
    public long DefaultByteBudget { get; set; } = 1L << 30;

    /// <summary>Length of the byte budget window (default one day).</summary>
    public TimeSpan DefaultBudgetWindow { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Lease ttl when the acquire names none.</summary>
    public TimeSpan DefaultTtl { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often unsaved byte usage is flushed to storage: the most usage a silo crash can lose.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Describes every problem with these options; empty when they are usable.</summary>
    public IEnumerable<string> Validate()
    {
        if (DefaultMaxConnections < 0 || DefaultMaxConnections > LeaseLimits.MaxConnectionsCeiling)
        {
            yield return $"Leases:DefaultMaxConnections must be between 0 and {LeaseLimits.MaxConnectionsCeiling}.";
        }

        if (DefaultByteBudget < 0 || DefaultByteBudget > LeaseLimits.MaxByteBudget)
        {
            yield return $"Leases:DefaultByteBudget must be between 0 and {LeaseLimits.MaxByteBudget}.";
        }

        var window = (long)DefaultBudgetWindow.TotalMilliseconds;
        if (window < LeaseLimits.MinBudgetWindowMs || window > LeaseLimits.MaxBudgetWindowMs)
        {
            yield return "Leases:DefaultBudgetWindow must be between 00:00:01 and 366.00:00:00.";
        }

        var ttl = (long)DefaultTtl.TotalMilliseconds;
        if (ttl < LeaseLimits.MinTtlMs || ttl > LeaseLimits.MaxTtlMs)
        {
            yield return "Leases:DefaultTtl must be between 00:00:01 and 1.00:00:00.";
        }

        if (FlushInterval < TimeSpan.FromMilliseconds(10) || FlushInterval > TimeSpan.FromMinutes(5))
        {
            yield return "Leases:FlushInterval must be between 00:00:00.010 and 00:05:00.";
        }
    }
}
