using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;

namespace Orleans.Coordinator.Grains.Caching;

/// <summary>The silo's response-cache memory (<c>Cache:MaxBytesPerSilo</c>), shared by every namespace it hosts.</summary>
public sealed class SiloCacheMemory : ICacheMemoryBudget
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<SiloCacheMemory, bool> Live = new();

    private static readonly ObservableGauge<long> BytesGauge = CoordinatorDiagnostics.Meter.CreateObservableGauge(
        "coordinator.response_cache.bytes", () => Live.Keys.Sum(m => m.Used), "By", "Bytes of response-cache entries held by the silos of this process.");

    private long _used;

    /// <summary>Creates the budget from the options (<c>coordinator.response_cache.bytes</c> reports it).</summary>
    public SiloCacheMemory(IOptions<CacheOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Max = options.Value.MaxBytesPerSilo;
        _ = BytesGauge;
        Live[this] = true;
    }

    /// <summary>The bound, bytes.</summary>
    public long Max { get; }

    /// <inheritdoc />
    public long Available => Max - Used;

    /// <summary>Bytes held now.</summary>
    public long Used => Interlocked.Read(ref _used);

    /// <inheritdoc />
    public bool TryReserve(long bytes)
    {
        while (true)
        {
            var used = Interlocked.Read(ref _used);
            if (used + bytes > Max)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _used, used + bytes, used) == used)
            {
                return true;
            }
        }
    }

    /// <inheritdoc />
    public void Release(long bytes) => Interlocked.Add(ref _used, -bytes);
}
