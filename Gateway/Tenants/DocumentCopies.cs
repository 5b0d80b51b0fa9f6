using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Tenants;

/// <summary>
/// The gateway's copies of tenant documents, for at most <see cref="CoordinatorGatewayOptions.TenantCacheTtl"/>; a copy
/// is dropped when any writer changes the document (the document grain announces it on the route channel,
/// <see cref="Resilience.RouteChangeFeed"/>), and none are kept while this gateway's Redis connection is broken.
/// A lookup under way while an announcement arrived is not kept (a generation guards the store).
/// </summary>
public sealed class DocumentCopies(IOptions<CoordinatorGatewayOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, (TenantConfigDocument? Document, long ValidUntil)> _copies = new(StringComparer.Ordinal);
    private readonly long _ttlTicks = (long)(options.Value.TenantCacheTtl.TotalSeconds * time.TimestampFrequency);
    private const int MaxCopies = 100_000;
    private long _generation;
    private volatile bool _suspended;

    /// <summary>True when copies are kept at all (a positive ttl).</summary>
    public bool Enabled => _ttlTicks > 0;

    /// <summary>Advances with every eviction; take it before a lookup and hand it to <see cref="Store"/>.</summary>
    public long Generation => Volatile.Read(ref _generation);

    /// <summary>The copy of a document (null document: known not to exist), when there is a live one.</summary>
    public bool TryGet(string grainKey, out TenantConfigDocument? document)
    {
        document = null;
        if (_suspended || !_copies.TryGetValue(grainKey, out var copy))
        {
            return false;
        }

        if (time.GetTimestamp() >= copy.ValidUntil)
        {
            _copies.TryRemove(new KeyValuePair<string, (TenantConfigDocument?, long)>(grainKey, copy));
            return false;
        }

        document = copy.Document;
        return true;
    }

    /// <summary>Keeps a copy unless an eviction happened since <paramref name="generationAtLookup"/> or copies are suspended.</summary>
    public void Store(string grainKey, TenantConfigDocument? document, long generationAtLookup)
    {
        if (_ttlTicks <= 0 || _suspended || Generation != generationAtLookup)
        {
            return;
        }

        if (_copies.Count >= MaxCopies)
        {
            var now = time.GetTimestamp();
            foreach (var (key, held) in _copies)
            {
                if (now >= held.ValidUntil)
                {
                    _copies.TryRemove(new KeyValuePair<string, (TenantConfigDocument?, long)>(key, held));
                }
            }

            if (_copies.Count >= MaxCopies)
            {
                return;
            }
        }

        var copy = (document, time.GetTimestamp() + _ttlTicks);
        _copies[grainKey] = copy;
        if (Generation != generationAtLookup)
        {
            _copies.TryRemove(new KeyValuePair<string, (TenantConfigDocument?, long)>(grainKey, copy));
        }
    }

    /// <summary>Drops the copy of one document.</summary>
    public void Evict(string grainKey)
    {
        Interlocked.Increment(ref _generation);
        _copies.TryRemove(grainKey, out _);
    }

    /// <summary>Drops every copy and keeps none until <see cref="Resume"/>.</summary>
    public void Suspend()
    {
        _suspended = true;
        Interlocked.Increment(ref _generation);
        _copies.Clear();
    }

    /// <summary>Keeps copies again; lookups that began before are not kept.</summary>
    public void Resume()
    {
        Interlocked.Increment(ref _generation);
        _suspended = false;
    }
}
