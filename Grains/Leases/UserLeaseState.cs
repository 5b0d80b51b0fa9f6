namespace Orleans.Coordinator.Grains.Leases;

/// <summary>The persisted leases of one user: written before every acknowledged acquire, renew and release.</summary>
[GenerateSerializer, Alias("coordinator.UserLeaseState")]
public sealed class UserLeaseState
{
    /// <summary>The user's own connection limit; null uses <c>Leases:DefaultMaxConnections</c>.</summary>
    [Id(0)]
    public int? MaxConnections { get; set; }

    /// <summary>
    /// The leases held (expired ones linger until the next change prunes them). Always written; in memory it is
    /// null between writes, because the grain's lease book is the one in-memory copy (docs/performance.md).
    /// </summary>
    [Id(1)]
    public List<LeaseEntry>? Leases { get; set; }
}

/// <summary>One persisted lease.</summary>
[GenerateSerializer, Alias("coordinator.LeaseEntry")]
public sealed class LeaseEntry
{
    /// <summary>The lease id.</summary>
    [Id(0)]
    public string LeaseId { get; set; } = string.Empty;

    /// <summary>The holder instance.</summary>
    [Id(1)]
    public string InstanceId { get; set; } = string.Empty;

    /// <summary>Renewal period.</summary>
    [Id(2)]
    public long TtlMs { get; set; }

    /// <summary>Grant time (Unix ms).</summary>
    [Id(3)]
    public long AcquiredAtMs { get; set; }

    /// <summary>Expiry (Unix ms).</summary>
    [Id(4)]
    public long ExpiresAtMs { get; set; }
}
