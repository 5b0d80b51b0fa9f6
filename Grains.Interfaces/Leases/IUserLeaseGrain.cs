namespace Orleans.Coordinator.Grains.Interfaces.Leases;

/// <summary>
/// The concurrent-connection leases of one user (key: the user name, see <see cref="GrainKeys.TryUser"/>).
/// Every acknowledged acquire and release is persisted (ETag-checked) before the call returns.
/// </summary>
[Alias("coordinator.IUserLeaseGrain")]
public interface IUserLeaseGrain : IGrainWithStringKey
{
    /// <summary>Takes one connection slot if the user is under the limit; expired leases are pruned first.</summary>
    [Alias("TryAcquireLease")]
    Task<LeaseAcquireResult> TryAcquireLeaseAsync(LeaseAcquireRequest request);

    /// <summary>Extends a live lease by its ttl (or <paramref name="ttlMs"/>); not found when unknown or expired.</summary>
    [Alias("RenewLease")]
    Task<LeaseRenewResult> RenewLeaseAsync(string leaseId, long? ttlMs = null);

    /// <summary>Frees a lease's slot. Returns false when the lease was not held (already released or expired); that is harmless.</summary>
    [Alias("ReleaseLease")]
    Task<bool> ReleaseLeaseAsync(string leaseId);

    /// <summary>Releases every lease held by <paramref name="instanceId"/> (its death or goodbye); returns how many.</summary>
    [Alias("ReleaseInstanceLeases")]
    Task<int> ReleaseInstanceLeasesAsync(string instanceId);

    /// <summary>Sets the user's connection limit override; null falls back to the default.</summary>
    [Alias("SetConnectionLimit")]
    Task SetConnectionLimitAsync(int? maxConnections);

    /// <summary>The live leases and the limit.</summary>
    [Alias("GetSnapshot")]
    Task<LeaseSnapshot> GetSnapshotAsync();
}
