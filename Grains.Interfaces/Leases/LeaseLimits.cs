namespace Orleans.Coordinator.Grains.Interfaces.Leases;

/// <summary>Bounds on lease and budget parameters shared by the gateway and the grains.</summary>
public static class LeaseLimits
{
    /// <summary>Shortest lease ttl: 1 second.</summary>
    public const long MinTtlMs = 1_000;

    /// <summary>Longest lease ttl: 24 hours.</summary>
    public const long MaxTtlMs = 86_400_000;

    /// <summary>Largest per-user connection limit.</summary>
    public const int MaxConnectionsCeiling = 100_000;

    /// <summary>Largest byte amount accepted in one report: 1 TiB.</summary>
    public const long MaxBytesPerReport = 1L << 40;

    /// <summary>Largest byte budget: 1 PiB.</summary>
    public const long MaxByteBudget = 1L << 50;

    /// <summary>Shortest budget window: 1 second.</summary>
    public const long MinBudgetWindowMs = 1_000;

    /// <summary>Longest budget window: 366 days.</summary>
    public const long MaxBudgetWindowMs = 366L * 86_400_000;

    /// <summary>Throws <see cref="CoordinatorValidationException"/> when <paramref name="ttlMs"/> is out of range.</summary>
    public static void ValidateTtl(long? ttlMs)
    {
        if (ttlMs is { } ttl && (ttl < MinTtlMs || ttl > MaxTtlMs))
        {
            throw new CoordinatorValidationException("ttlMs", $"ttlMs must be between {MinTtlMs} and {MaxTtlMs}.");
        }
    }

    /// <summary>Throws <see cref="CoordinatorValidationException"/> when a limit is out of range.</summary>
    public static void ValidateLimits(UserLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        if (limits.MaxConnections is { } max && (max < 0 || max > MaxConnectionsCeiling))
        {
            throw new CoordinatorValidationException("maxConnections", $"maxConnections must be between 0 and {MaxConnectionsCeiling}.");
        }

        if (limits.ByteBudget is { } budget && (budget < 0 || budget > MaxByteBudget))
        {
            throw new CoordinatorValidationException("byteBudget", $"byteBudget must be between 0 and {MaxByteBudget}.");
        }

        if (limits.BudgetWindowMs is { } window && (window < MinBudgetWindowMs || window > MaxBudgetWindowMs))
        {
            throw new CoordinatorValidationException("budgetWindowMs", $"budgetWindowMs must be between {MinBudgetWindowMs} and {MaxBudgetWindowMs}.");
        }
    }

    /// <summary>Throws <see cref="CoordinatorValidationException"/> when a byte report is negative or absurd.</summary>
    public static void ValidateBytes(long bytes)
    {
        if (bytes < 0 || bytes > MaxBytesPerReport)
        {
            throw new CoordinatorValidationException("bytes", $"bytes must be between 0 and {MaxBytesPerReport}.");
        }
    }
}
