using Orleans.Coordinator.Grains.Interfaces.Configuration;

namespace Orleans.Coordinator.Grains.Leases;

/// <summary>
/// The persisted byte budget of one user. Overrides are written at once; usage is flushed on a timer
/// (<see cref="LeaseOptions.FlushInterval"/>) and on deactivation.
/// </summary>
[GenerateSerializer, Alias("coordinator.UserByteBudgetState")]
public sealed class UserByteBudgetState
{
    /// <summary>The user's own budget; null uses <c>Leases:DefaultByteBudget</c>.</summary>
    [Id(0)]
    public long? ByteBudget { get; set; }

    /// <summary>The user's own window; null uses <c>Leases:DefaultBudgetWindow</c>.</summary>
    [Id(1)]
    public long? BudgetWindowMs { get; set; }

    /// <summary>Start of the current window (Unix ms); 0 before the first charge.</summary>
    [Id(2)]
    public long WindowStartMs { get; set; }

    /// <summary>Bytes charged in the current window.</summary>
    [Id(3)]
    public long Used { get; set; }
}
