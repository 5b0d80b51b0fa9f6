using Orleans.Coordinator.Grains.Interfaces.Caching;

namespace Orleans.Coordinator.Grains.Caching;

/// <summary>A response-cache namespace's persisted part: its settings (entries are soft state, never persisted).</summary>
[GenerateSerializer, Alias("coordinator.ResponseCacheState")]
public sealed class ResponseCacheState
{
    /// <summary>The settings; null while the namespace does not exist.</summary>
    [Id(0)]
    public ResponseCacheSettings? Settings { get; set; }
}
