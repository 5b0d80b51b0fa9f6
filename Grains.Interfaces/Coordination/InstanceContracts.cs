using Orleans.Concurrency;

namespace Orleans.Coordinator.Grains.Interfaces.Coordination;

/// <summary>A heartbeat.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.InstanceHeartbeat")]
public sealed record InstanceHeartbeat(
    [property: Id(0)] string Role,
    [property: Id(1)] string? Address,
    [property: Id(2)] string? Version,
    [property: Id(3)] IReadOnlyDictionary<string, string> Metadata);

/// <summary>How often to beat, and when an instance that stopped is declared dead.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.HeartbeatAdvice")]
public sealed record HeartbeatAdvice([property: Id(0)] long IntervalMs, [property: Id(1)] long DeadAfterMs);

/// <summary>An instance as last seen.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.InstanceSnapshot")]
public sealed record InstanceSnapshot(
    [property: Id(0)] string InstanceId,
    [property: Id(1)] string Role,
    [property: Id(2)] string? Address,
    [property: Id(3)] string? Version,
    [property: Id(4)] IReadOnlyDictionary<string, string> Metadata,
    [property: Id(5)] long LastSeenMs,
    [property: Id(6)] bool Alive,
    [property: Id(7)] long? DeadAtMs);

/// <summary>A registry entry.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.InstanceRegistration")]
public sealed record InstanceRegistration(
    [property: Id(0)] string InstanceId,
    [property: Id(1)] string Role,
    [property: Id(2)] bool Alive,
    [property: Id(3)] long? DeadAtMs);

/// <summary>
/// One instance's heartbeats (key: the instance id). Heartbeats touch only this grain; it declares the
/// instance dead when beats stop for <c>Instances:DeadAfter</c>, and then releases every connection lease
/// the instance held.
/// </summary>
[Alias("coordinator.IInstanceGrain")]
public interface IInstanceGrain : IGrainWithStringKey
{
    /// <summary>Records a beat.</summary>
    [Alias("Heartbeat")]
    Task<HeartbeatAdvice> HeartbeatAsync(InstanceHeartbeat heartbeat);

    /// <summary>The instance, or null when it never beat (or was forgotten).</summary>
    [Alias("Get")]
    Task<InstanceSnapshot?> GetAsync();

    /// <summary>The instance leaves: its leases are released now; returns how many users had leases.</summary>
    [Alias("Goodbye")]
    Task<int> GoodbyeAsync();

    /// <summary>Makes sure a live instance is being watched (the registry calls this after a silo loss).</summary>
    [Alias("EnsureWatched")]
    Task EnsureWatchedAsync(string role);
}

/// <summary>
/// One shard of the instance registry (key: <c>0</c> to <c>15</c>, by hash of the instance id). Written on
/// registration and death only, never on a heartbeat.
/// </summary>
[Alias("coordinator.IInstanceRegistryGrain")]
public interface IInstanceRegistryGrain : IGrainWithStringKey
{
    /// <summary>Records a live instance (idempotent).</summary>
    [Alias("Register")]
    Task RegisterAsync(string instanceId, string role);

    /// <summary>Records a death.</summary>
    [Alias("MarkDead")]
    Task MarkDeadAsync(string instanceId, long deadAtMs);

    /// <summary>Forgets an instance.</summary>
    [Alias("Forget")]
    Task ForgetAsync(string instanceId);

    /// <summary>The shard's instances, optionally of one role.</summary>
    [Alias("List")]
    Task<IReadOnlyList<InstanceRegistration>> ListAsync(string? role);
}

/// <summary>
/// One bucket (key: <c>{instanceId}/{bucket}</c>, 16 buckets by hash of the user) of the users that hold
/// leases from an instance, so its death can release them all.
/// </summary>
[Alias("coordinator.IInstanceLeaseIndexGrain")]
public interface IInstanceLeaseIndexGrain : IGrainWithStringKey
{
    /// <summary>Records that <paramref name="user"/> holds a lease from this instance (persisted before it returns).</summary>
    [Alias("Track"), AlwaysInterleave]
    Task TrackAsync(string user);

    /// <summary>Releases the instance's leases of every recorded user; returns how many users were recorded.</summary>
    [Alias("ReleaseAll")]
    Task<int> ReleaseAllAsync();
}

/// <summary>Keys of the instance registry and lease index.</summary>
public static class InstanceKeys
{
    /// <summary>Registry shards.</summary>
    public const int RegistryShards = 16;

    /// <summary>Lease index buckets per instance.</summary>
    public const int LeaseIndexBuckets = 16;

    /// <summary>The registry shard of an instance.</summary>
    public static string RegistryShard(string instanceId) => (StableHash(instanceId) % RegistryShards).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The lease index bucket of a user's leases from an instance.</summary>
    public static string LeaseIndex(string instanceId, string user)
        => $"{instanceId}/{StableHash(user) % LeaseIndexBuckets}";

    /// <summary>Every lease index bucket of an instance.</summary>
    public static IEnumerable<string> LeaseIndexes(string instanceId)
        => Enumerable.Range(0, LeaseIndexBuckets).Select(b => $"{instanceId}/{b}");

    /// <summary>FNV-1a: stable across processes (string.GetHashCode is not).</summary>
    private static uint StableHash(string value)
    {
        var hash = 2166136261u;
        foreach (var c in value)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }
}
