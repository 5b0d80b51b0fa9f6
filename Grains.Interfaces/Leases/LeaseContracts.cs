namespace Orleans.Coordinator.Grains.Interfaces.Leases;

/// <summary>Asks for one connection slot for a user.</summary>
/// <param name="InstanceId">The proxy instance that holds the connection.</param>
/// <param name="TtlMs">How long the lease lives without renewal; null for the configured default.</param>
/// <param name="LeaseId">
/// The id the lease gets (a <see cref="GrainKeys.TryLeaseId"/> key, 128 random bits as from
/// <see cref="GrainKeys.NewOpaqueId"/>); null lets the grain choose. With an id the acquire is idempotent: a retry
/// of one already granted answers the same lease, and one released before it arrived (a caller that gave up on it)
/// is refused, so a late acquire never leaves a slot nobody holds.
/// </param>
[GenerateSerializer, Immutable, Alias("coordinator.LeaseAcquireRequest")]
public sealed record LeaseAcquireRequest([property: Id(0)] string InstanceId, [property: Id(1)] long? TtlMs = null, [property: Id(2)] string? LeaseId = null);

/// <summary>The answer to <see cref="IUserLeaseGrain.TryAcquireLeaseAsync"/>.</summary>
/// <param name="Granted">True when a slot was taken and persisted.</param>
/// <param name="LeaseId">The new lease's id when granted.</param>
/// <param name="Active">Live leases after the decision.</param>
/// <param name="Limit">The user's connection limit.</param>
/// <param name="ExpiresAtMs">Expiry of the new lease (Unix ms), or when the earliest lease expires if denied (0 when none).</param>
[GenerateSerializer, Immutable, Alias("coordinator.LeaseAcquireResult")]
public sealed record LeaseAcquireResult([property: Id(0)] bool Granted, [property: Id(1)] string? LeaseId, [property: Id(2)] int Active, [property: Id(3)] int Limit, [property: Id(4)] long ExpiresAtMs);

/// <summary>The answer to <see cref="IUserLeaseGrain.RenewLeaseAsync"/>.</summary>
/// <param name="Found">False when the lease is unknown or has expired.</param>
/// <param name="ExpiresAtMs">The new expiry (Unix ms) when found.</param>
[GenerateSerializer, Immutable, Alias("coordinator.LeaseRenewResult")]
public sealed record LeaseRenewResult([property: Id(0)] bool Found, [property: Id(1)] long ExpiresAtMs);

/// <summary>One live lease.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.LeaseInfo")]
public sealed record LeaseInfo([property: Id(0)] string LeaseId, [property: Id(1)] string InstanceId, [property: Id(2)] long AcquiredAtMs, [property: Id(3)] long ExpiresAtMs);

/// <summary>The live leases of a user and the limit they count against.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.LeaseSnapshot")]
public sealed record LeaseSnapshot([property: Id(0)] int Active, [property: Id(1)] int Limit, [property: Id(2)] IReadOnlyList<LeaseInfo> Leases);

/// <summary>
/// Per-user overrides. A null field falls back to the configured default
/// (<c>Leases:DefaultMaxConnections</c>, <c>Leases:DefaultByteBudget</c>, <c>Leases:DefaultBudgetWindow</c>).
/// </summary>
[GenerateSerializer, Immutable, Alias("coordinator.UserLimits")]
public sealed record UserLimits([property: Id(0)] int? MaxConnections, [property: Id(1)] long? ByteBudget, [property: Id(2)] long? BudgetWindowMs);

/// <summary>The answer to <see cref="IUserByteBudgetGrain.ConsumeBytesAsync"/>.</summary>
/// <param name="Allowed">False when the bytes did not fit in what is left of the window; nothing was charged then.</param>
/// <param name="Used">Bytes charged in the current window.</param>
/// <param name="Budget">The window's budget.</param>
/// <param name="Remaining">Budget minus used, never negative.</param>
/// <param name="ResetAtMs">When the current window ends (Unix ms).</param>
[GenerateSerializer, Immutable, Alias("coordinator.ByteBudgetResult")]
public sealed record ByteBudgetResult([property: Id(0)] bool Allowed, [property: Id(1)] long Used, [property: Id(2)] long Budget, [property: Id(3)] long Remaining, [property: Id(4)] long ResetAtMs);

/// <summary>A user's byte budget as it stands.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.ByteBudgetSnapshot")]
public sealed record ByteBudgetSnapshot([property: Id(0)] long Used, [property: Id(1)] long Budget, [property: Id(2)] long BudgetWindowMs, [property: Id(3)] long ResetAtMs);

/// <summary>
/// The members of a user's Redis fallback lease set (<see cref="GrainKeys.RedisFallbackLeaseKey"/>, a sorted set scored by expiry):
/// <c>{leaseId}|{instanceId}|{acquiredAtMs}</c>. Lease and instance ids never hold <c>|</c> (<see cref="GrainKeys.TryLeaseId"/>,
/// <see cref="GrainKeys.TryInstanceId"/>), so the member is unambiguous.
/// </summary>
public static class FallbackLeaseMembers
{
    /// <summary>The lease a member names, with its expiry (the member's score); null for a member of another shape.</summary>
    public static LeaseInfo? Parse(string member, long expiresAtMs)
    {
        ArgumentNullException.ThrowIfNull(member);
        var parts = member.Split('|');
        return parts.Length == 3 && long.TryParse(parts[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var acquired)
            ? new LeaseInfo(parts[0], parts[1], acquired, expiresAtMs)
            : null;
    }
}
