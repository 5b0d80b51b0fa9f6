namespace Orleans.Coordinator.Grains.Domain;

/// <summary>One concurrent-connection lease.</summary>
/// <param name="LeaseId">Random id handed to the holder.</param>
/// <param name="InstanceId">The proxy instance holding the connection.</param>
/// <param name="TtlMs">How far each renewal pushes the expiry.</param>
/// <param name="AcquiredAtMs">When the lease was granted (Unix ms).</param>
/// <param name="ExpiresAtMs">When the lease lapses unless renewed (Unix ms).</param>
public sealed record ConnectionLease(string LeaseId, string InstanceId, long TtlMs, long AcquiredAtMs, long ExpiresAtMs)
{
    /// <summary>True once <paramref name="nowMs"/> has reached the expiry.</summary>
    public bool IsExpired(long nowMs) => nowMs >= ExpiresAtMs;
}

/// <summary>The outcome of <see cref="ConnectionLeaseBook.TryAcquire"/>.</summary>
/// <param name="Granted">True when the lease was added.</param>
/// <param name="Lease">The new lease when granted.</param>
/// <param name="Active">Live leases after the decision.</param>
/// <param name="Limit">The limit the decision was made against.</param>
/// <param name="EarliestExpiryMs">When denied: the soonest a slot frees by expiry (0 if none).</param>
public readonly record struct LeaseDecision(bool Granted, ConnectionLease? Lease, int Active, int Limit, long EarliestExpiryMs);

/// <summary>
/// The live connection leases of one user. Pure: no I/O, no clock of its own; the caller passes the
/// time. A grain keeps one of these in memory and persists it after every change it acknowledges.
/// </summary>
public sealed class ConnectionLeaseBook
{
    // A list, not a dictionary: a user holds a few leases, and a list costs a third of the memory of an active
    // grain's dictionary (docs/performance.md). Lookups by id are linear.
    private readonly List<ConnectionLease> _leases = new(1); // most users hold one or two: grow from one slot, not four

    /// <summary>Creates a book holding <paramref name="leases"/> (duplicates by id keep the last).</summary>
    public ConnectionLeaseBook(IEnumerable<ConnectionLease>? leases = null)
    {
        foreach (var lease in leases ?? [])
        {
            var at = IndexOf(lease.LeaseId);
            if (at >= 0)
            {
                _leases[at] = lease;
            }
            else
            {
                _leases.Add(lease);
            }
        }
    }

    /// <summary>Every lease held, expired ones included until <see cref="PruneExpired"/> runs.</summary>
    public IReadOnlyCollection<ConnectionLease> Leases => _leases;

    /// <summary>Number of leases not yet expired at <paramref name="nowMs"/>.</summary>
    public int CountActive(long nowMs) => _leases.Count(l => !l.IsExpired(nowMs));

    /// <summary>Removes every lease expired at <paramref name="nowMs"/> and returns how many went.</summary>
    public int PruneExpired(long nowMs)
    {
        return _leases.RemoveAll(l => l.IsExpired(nowMs));
    }

    /// <summary>
    /// Grants a lease with <paramref name="leaseId"/> when fewer than <paramref name="limit"/> leases are live.
    /// Expired leases never count against the limit. A limit of 0 refuses every acquire.
    /// <paramref name="heldElsewhere"/> live leases kept outside this book (a gateway's fallback) count too.
    /// </summary>
    public LeaseDecision TryAcquire(long nowMs, string leaseId, string instanceId, long ttlMs, int limit, int heldElsewhere = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(heldElsewhere);
        ArgumentException.ThrowIfNullOrEmpty(leaseId);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttlMs, 0);
        if (IndexOf(leaseId) >= 0)
        {
            throw new InvalidOperationException("Lease ids must be unique.");
        }

        var active = CountActive(nowMs) + heldElsewhere;
        if (active >= limit)
        {
            var earliest = _leases.Where(l => !l.IsExpired(nowMs)).Select(l => l.ExpiresAtMs).DefaultIfEmpty(0).Min();
            return new LeaseDecision(false, null, active, limit, earliest);
        }

        var lease = new ConnectionLease(leaseId, instanceId, ttlMs, nowMs, SaturatingAdd(nowMs, ttlMs));
        _leases.Add(lease);
        return new LeaseDecision(true, lease, active + 1, limit, lease.ExpiresAtMs);
    }

    /// <summary>
    /// Pushes a live lease's expiry to now + ttl (its own ttl unless <paramref name="ttlMs"/> is given).
    /// Returns the renewed lease, or null when it is unknown or already expired: an expired lease is gone,
    /// its slot may already be someone else's.
    /// </summary>
    public ConnectionLease? Renew(long nowMs, string leaseId, long? ttlMs = null)
    {
        var at = IndexOf(leaseId);
        if (at < 0 || _leases[at] is not { } lease || lease.IsExpired(nowMs))
        {
            return null;
        }

        var ttl = ttlMs ?? lease.TtlMs;
        var renewed = lease with { TtlMs = ttl, ExpiresAtMs = Math.Max(lease.ExpiresAtMs, SaturatingAdd(nowMs, ttl)) };
        _leases[at] = renewed;
        return renewed;
    }

    /// <summary>Removes every lease held by <paramref name="instanceId"/> and returns how many went.</summary>
    public int ReleaseHeldBy(string instanceId)
    {
        return _leases.RemoveAll(l => l.InstanceId == instanceId);
    }

    /// <summary>True when <paramref name="instanceId"/> holds a live lease at <paramref name="nowMs"/>.</summary>
    public bool HasLiveLeaseFrom(string instanceId, long nowMs) => _leases.Any(l => l.InstanceId == instanceId && !l.IsExpired(nowMs));

    /// <summary>The lease with <paramref name="leaseId"/>, expired or not; null when none.</summary>
    public ConnectionLease? Find(string leaseId)
    {
        var at = IndexOf(leaseId);
        return at >= 0 ? _leases[at] : null;
    }

    /// <summary>Removes a lease; false when it was not held.</summary>
    public bool Release(string leaseId)
    {
        var at = IndexOf(leaseId);
        if (at >= 0)
        {
            _leases.RemoveAt(at);
        }

        return at >= 0;
    }

    private int IndexOf(string leaseId) => _leases.FindIndex(l => string.Equals(l.LeaseId, leaseId, StringComparison.Ordinal));

    private static long SaturatingAdd(long a, long b) => b > long.MaxValue - a ? long.MaxValue : a + b;
}
