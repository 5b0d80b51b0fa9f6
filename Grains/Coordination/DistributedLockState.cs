namespace Orleans.Coordinator.Grains.Coordination;

/// <summary>A lock's persisted state: the newest token ever issued and who holds it until when.</summary>
[GenerateSerializer, Alias("coordinator.DistributedLockState")]
public sealed class DistributedLockState
{
    /// <summary>The newest fencing token issued; never goes down.</summary>
    [Id(0)]
    public long Token { get; set; }

    /// <summary>The holder, or null when released.</summary>
    [Id(1)]
    public string? Owner { get; set; }

    /// <summary>When the holder's grant lapses (Unix ms).</summary>
    [Id(2)]
    public long ExpiresAtMs { get; set; }
}
