namespace Orleans.Coordinator.Grains.Interfaces;

/// <summary>
/// A no-op call that proves a client reaches the cluster: a stateless worker (key 0), so it runs on the silo the call
/// enters through, touches no storage and no other silo. Gateways use it to tell a slow grain call (a cold activation
/// still reading its state) from an unreachable cluster before they answer from the Redis fallback.
/// </summary>
[Alias("coordinator.IClusterPingGrain")]
public interface IClusterPingGrain : IGrainWithIntegerKey
{
    /// <summary>Completes at once.</summary>
    [Alias("Ping")]
    Task PingAsync();
}
