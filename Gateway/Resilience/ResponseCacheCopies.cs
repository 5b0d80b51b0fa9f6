using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Caching;
using Orleans.Coordinator.Grains.Interfaces.Configuration;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// The gateway's own copies of response-cache hits, so a repeated hit costs no grain call. A copy lives at most
/// <see cref="CacheOptions.GatewayCopyTtl"/> and never past its entry's expiry; it is dropped when any writer changes
/// the entry or its namespace (the namespace grain announces it on the route channel, <see cref="RouteChangeFeed"/>),
/// and every copy is dropped and none kept while this gateway's Redis connection is broken. Values above
/// <see cref="MaxValueBytes"/> are not copied. Hits served from copies are counted and sent to the namespace grain
/// about once a second (<see cref="ResponseCacheHitReporter"/>), so its statistics and LRU order see them.
/// </summary>
/// <remarks>
/// A lookup that was under way while an announcement arrived is not kept: each eviction advances a generation, and a
/// copy is stored only if the generation did not move since its lookup began. An entry the grain evicted for room (not
/// announced) may be served from a copy until the copy's ttl: it was a valid value.
/// </remarks>
public sealed class ResponseCacheCopies(IOptions<CacheOptions> options, TimeProvider time)
{
    /// <summary>Largest value copied: 64 KiB.</summary>
    public const int MaxValueBytes = 64 * 1024;

    private readonly ConcurrentDictionary<(string Namespace, string Key), Copy> _copies = new();
    private readonly ConcurrentDictionary<(string Namespace, string Key), int> _hits = new();
    private readonly long _maxTicks = (long)(options.Value.GatewayCopyTtl.TotalSeconds * time.TimestampFrequency);
    private readonly long _maxBytes = options.Value.GatewayCopyBytes;
    private long _bytes;
    private long _generation;
    private long _lastSweep;
    private volatile bool _suspended;

    /// <summary>True when copies are kept at all (a positive ttl and byte bound).</summary>
    public bool Enabled => _maxTicks > 0 && _maxBytes > 0;

    /// <summary>Advances with every eviction; take it before a lookup and hand it to <see cref="Store"/>.</summary>
    public long Generation => Volatile.Read(ref _generation);

    /// <summary>Bytes of values held in copies.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>The copy of an entry, when there is a live one (the hit is counted for the grain).</summary>
    public bool TryGet(string grainKey, string key, long nowMs, out ResponseCacheEntry entry)
    {
        if (!_suspended && _copies.TryGetValue((grainKey, key), out var copy))
        {
            if (time.GetTimestamp() < copy.ValidUntil && nowMs < copy.Entry.ExpiresAtMs)
            {
                _hits.AddOrUpdate((grainKey, key), 1, static (_, n) => n + 1);
                entry = copy.Entry;
                return true;
            }

            Remove((grainKey, key), copy);
        }

        entry = null!;
        return false;
    }

    /// <summary>Keeps a copy of a hit unless an eviction happened since <paramref name="generationAtLookup"/>, copies are suspended, the value is large, or the bytes are spent.</summary>
    public void Store(string grainKey, string key, ResponseCacheEntry entry, long generationAtLookup, long nowMs)
    {
        if (!Enabled || _suspended || entry.Value.Length > MaxValueBytes || Generation != generationAtLookup || entry.ExpiresAtMs <= nowMs)
        {
            return;
        }

        var now = time.GetTimestamp();
        if (Bytes + entry.Value.Length > _maxBytes && (!SweepExpired(now) || Bytes + entry.Value.Length > _maxBytes))
        {
            return;
        }

        var copy = new Copy(entry, now + _maxTicks);
        if (_copies.TryAdd((grainKey, key), copy))
        {
            Interlocked.Add(ref _bytes, entry.Value.Length);
            if (Generation != generationAtLookup)
            {
                // An eviction raced the store: it may have run before the copy was in, so take the copy out again.
                Remove((grainKey, key), copy);
            }
        }
    }

    /// <summary>Drops the copy of one entry, or with <paramref name="key"/> null every copy of the namespace.</summary>
    public void Evict(string grainKey, string? key)
    {
        Interlocked.Increment(ref _generation);
        if (key is not null)
        {
            if (_copies.TryGetValue((grainKey, key), out var copy))
            {
                Remove((grainKey, key), copy);
            }

            return;
        }

        foreach (var (id, copy) in _copies)
        {
            if (id.Namespace == grainKey)
            {
                Remove(id, copy);
            }
        }
    }

    /// <summary>Drops every copy and keeps none until <see cref="Resume"/> (the change feed cannot be trusted).</summary>
    public void Suspend()
    {
        _suspended = true;
        Interlocked.Increment(ref _generation);
        foreach (var (id, copy) in _copies)
        {
            Remove(id, copy);
        }
    }

    /// <summary>Keeps copies again (the change feed is connected); lookups that began before are not kept.</summary>
    public void Resume()
    {
        Interlocked.Increment(ref _generation);
        _suspended = false;
    }

    /// <summary>Takes the hits served from copies since the last call, by namespace: (keys, counts).</summary>
    public Dictionary<string, (List<string> Keys, List<int> Counts)> TakeHits()
    {
        var byNamespace = new Dictionary<string, (List<string> Keys, List<int> Counts)>(StringComparer.Ordinal);
        foreach (var id in _hits.Keys)
        {
            if (_hits.TryRemove(id, out var count))
            {
                if (!byNamespace.TryGetValue(id.Namespace, out var batch))
                {
                    byNamespace[id.Namespace] = batch = ([], []);
                }

                batch.Keys.Add(id.Key);
                batch.Counts.Add(count);
            }
        }

        return byNamespace;
    }

    private void Remove((string, string) id, Copy copy)
    {
        if (_copies.TryRemove(new KeyValuePair<(string, string), Copy>(id, copy)))
        {
            Interlocked.Add(ref _bytes, -copy.Entry.Value.Length);
        }
    }

    private bool SweepExpired(long now)
    {
        var last = Volatile.Read(ref _lastSweep);
        if (now - last < time.TimestampFrequency || Interlocked.CompareExchange(ref _lastSweep, now, last) != last)
        {
            return false;
        }

        var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var (id, copy) in _copies)
        {
            if (now >= copy.ValidUntil || nowMs >= copy.Entry.ExpiresAtMs)
            {
                Remove(id, copy);
            }
        }

        return true;
    }

    private sealed record Copy(ResponseCacheEntry Entry, long ValidUntil);
}

/// <summary>Sends the hits served from <see cref="ResponseCacheCopies"/> to their namespace grains, about once a second.</summary>
internal sealed class ResponseCacheHitReporter(ResponseCacheCopies copies, IGrainFactory grains, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!copies.Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                foreach (var (grainKey, (keys, counts)) in copies.TakeHits())
                {
                    try
                    {
                        await grains.Get<IResponseCacheGrain>(grainKey).RecordHitsAsync([.. keys], [.. counts]);
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        // Statistics only: hits that cannot be reported now are not retried.
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
