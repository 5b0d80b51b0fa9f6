namespace Orleans.Coordinator.Grains.Interfaces.Leases;

/// <summary>
/// The byte budget of one user over a fixed window (key: the user name). Usage is kept in memory and
/// flushed to storage on a timer (<c>Leases:FlushInterval</c>, default 1 s) and on deactivation: a silo
/// crash can lose at most that interval of usage. Budget changes are persisted before the call returns.
/// </summary>
[Alias("coordinator.IUserByteBudgetGrain")]
public interface IUserByteBudgetGrain : IGrainWithStringKey
{
    /// <summary>Charges <paramref name="bytes"/> if they fit in what is left of the window, else charges nothing.</summary>
    [Alias("ConsumeBytes")]
    Task<ByteBudgetResult> ConsumeBytesAsync(long bytes);

    /// <summary>Sets the user's budget overrides; a null field falls back to the default.</summary>
    [Alias("SetBudget")]
    Task SetBudgetAsync(long? byteBudget, long? budgetWindowMs);

    /// <summary>Usage and budget of the current window.</summary>
    [Alias("GetSnapshot")]
    Task<ByteBudgetSnapshot> GetSnapshotAsync();
}
