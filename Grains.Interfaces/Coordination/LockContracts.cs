namespace Orleans.Coordinator.Grains.Interfaces.Coordination;

/// <summary>The answer to an acquire.</summary>
/// <param name="Granted">True when the caller now holds the lock.</param>
/// <param name="FencingToken">The grant's token (strictly increasing per lock), or 0 when denied.</param>
/// <param name="ExpiresAtMs">When the grant lapses, or when the current holder's does (denied).</param>
/// <param name="Holder">The current holder when denied.</param>
[GenerateSerializer, Immutable, Alias("coordinator.LockAcquireResult")]
public sealed record LockAcquireResult(
    [property: Id(0)] bool Granted,
    [property: Id(1)] long FencingToken,
    [property: Id(2)] long ExpiresAtMs,
    [property: Id(3)] string? Holder);

/// <summary>The answer to renew and release.</summary>
/// <param name="Succeeded">False when the caller does not hold the lock with that token (expired, released or taken over).</param>
/// <param name="ExpiresAtMs">The new expiry after a renew.</param>
/// <param name="Known">False when the lock was never granted.</param>
[GenerateSerializer, Immutable, Alias("coordinator.LockUpdateResult")]
public sealed record LockUpdateResult([property: Id(0)] bool Succeeded, [property: Id(1)] long ExpiresAtMs, [property: Id(2)] bool Known);

/// <summary>Whether a fencing token is still the newest.</summary>
/// <param name="Newest">True when no later token has been issued for this lock.</param>
/// <param name="Held">True when the lock is currently held under that token (not expired, not released).</param>
/// <param name="CurrentToken">The newest token issued (0 when none).</param>
/// <param name="Waiting">Callers waiting for the lock right now.</param>
[GenerateSerializer, Immutable, Alias("coordinator.LockValidation")]
public sealed record LockValidation([property: Id(0)] bool Newest, [property: Id(1)] bool Held, [property: Id(2)] long CurrentToken, [property: Id(3)] int Waiting);

/// <summary>Bounds on lock calls.</summary>
public static class LockLimits
{
    /// <summary>Shortest lock ttl: 100 ms.</summary>
    public const long MinTtlMs = 100;

    /// <summary>Longest lock ttl: 1 hour.</summary>
    public const long MaxTtlMs = 3_600_000;

    /// <summary>Longest wait: 60 s.</summary>
    public const long MaxWaitMs = 60_000;

    /// <summary>Most callers waiting on one lock.</summary>
    public const int MaxWaiters = 1_000;

    /// <summary>Longest owner string.</summary>
    public const int MaxOwnerLength = 128;
}

/// <summary>
/// A distributed lock with fencing tokens (key: the lock name). A grant, renew and release is persisted
/// (ETag-checked) before it is acknowledged; the token only goes up, across expiry, release, silo kill and
/// reactivation. Waiters are served first come, first served without blocking the grain.
/// </summary>
[Alias("coordinator.IDistributedLockGrain")]
public interface IDistributedLockGrain : IGrainWithStringKey
{
    /// <summary>Takes the lock for <paramref name="ttlMs"/>, waiting up to <paramref name="waitMs"/> for it.</summary>
    /// <remarks>A waiting call may outlast the cluster's response timeout, so this method has its own (the longest wait plus a margin).</remarks>
    [Alias("Acquire"), ResponseTimeout("00:01:05")]
    Task<LockAcquireResult> AcquireAsync(string owner, long ttlMs, long waitMs);

    /// <summary>Extends a held lock.</summary>
    [Alias("Renew")]
    Task<LockUpdateResult> RenewAsync(string owner, long fencingToken, long ttlMs);

    /// <summary>Releases a held lock.</summary>
    [Alias("Release")]
    Task<LockUpdateResult> ReleaseAsync(string owner, long fencingToken);

    /// <summary>Tells a resource whether <paramref name="fencingToken"/> is still the newest.</summary>
    [Alias("Validate")]
    Task<LockValidation> ValidateAsync(long fencingToken);
}
