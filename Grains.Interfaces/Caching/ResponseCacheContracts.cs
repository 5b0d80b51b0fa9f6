using System.Text;

namespace Orleans.Coordinator.Grains.Interfaces.Caching;

/// <summary>
/// A response-cache namespace's settings (one namespace per tenant and, typically, per model).
/// </summary>
/// <param name="MaxEntries">Most entries held; the least recently used go first beyond it (default 10,000; 1 to 1,000,000).</param>
/// <param name="MaxBytes">Most bytes held, as accounted by <see cref="ResponseCacheLimits.EntryBytes"/> (default 64 MiB; 64 KiB to 16 GiB).</param>
/// <param name="DefaultTtlMs">Time to live of an entry written without one, ms (default 1 hour; 1 s to 30 days).</param>
/// <param name="Dimension">Length of the embeddings entries may carry (1 to 4,096); null: no semantic lookup.</param>
/// <param name="MaxValueBytes">Largest value, UTF-8 bytes (default 1 MiB; 1 byte to 16 MiB).</param>
/// <param name="FillTimeoutMs">How long a caller told to fill a missing entry has before its fill token expires and the next caller is told, ms (default 30 s; 1 s to 10 min).</param>
[GenerateSerializer, Immutable, Alias("coordinator.ResponseCacheSettings")]
public sealed record ResponseCacheSettings(
    [property: Id(0)] int MaxEntries,
    [property: Id(1)] long MaxBytes,
    [property: Id(2)] long DefaultTtlMs,
    [property: Id(3)] int? Dimension,
    [property: Id(4)] int MaxValueBytes,
    [property: Id(5)] long FillTimeoutMs)
{
    /// <summary>The defaults: 10,000 entries, 64 MiB, 1 hour, no embeddings, 1 MiB values, 30 s fills.</summary>
    public static ResponseCacheSettings Default { get; } = new(10_000, 64L * 1024 * 1024, 3_600_000, null, 1024 * 1024, 30_000);
}

/// <summary>A namespace's settings and live statistics (since its activation: entries are soft state).</summary>
/// <param name="Settings">The settings in force.</param>
/// <param name="Entries">Entries held (expired ones until they are next touched or swept).</param>
/// <param name="Bytes">Bytes held, as accounted by <see cref="ResponseCacheLimits.EntryBytes"/>.</param>
/// <param name="Hits">Exact lookups that found an entry, plus semantic lookups with at least one match.</param>
/// <param name="Misses">Exact lookups that found nothing, plus semantic lookups with no match.</param>
/// <param name="Evictions">Entries dropped to stay within <c>maxEntries</c>, <c>maxBytes</c> or the silo's budget (not expiries or deletes).</param>
/// <param name="Fills">Fills completed: writes that carried the current fill token.</param>
/// <param name="Waiters">Callers waiting now for another caller's fill.</param>
[GenerateSerializer, Immutable, Alias("coordinator.ResponseCacheStats")]
public sealed record ResponseCacheStats(
    [property: Id(0)] ResponseCacheSettings Settings,
    [property: Id(1)] long Entries,
    [property: Id(2)] long Bytes,
    [property: Id(3)] long Hits,
    [property: Id(4)] long Misses,
    [property: Id(5)] long Evictions,
    [property: Id(6)] long Fills,
    [property: Id(7)] int Waiters);

/// <summary>A write: the value, and optionally its ttl, tags, embedding and the fill token it completes.</summary>
/// <param name="Value">The value, UTF-8 (<see cref="ResponseCacheSettings.MaxValueBytes"/> at most).</param>
/// <param name="TtlMs">Time to live, ms (1 s to 30 days); null: the namespace's default.</param>
/// <param name="Tags">Up to 16 tags (1 to 128 printable ASCII characters each) that <see cref="IResponseCacheGrain.InvalidateAsync"/> drops it by.</param>
/// <param name="Embedding">float32 embedding of the namespace's dimension (finite, not all zero); null: exact lookups only.</param>
/// <param name="FillToken">The token of the fill this write completes (see <see cref="IResponseCacheGrain.GetAsync"/>).</param>
[GenerateSerializer, Immutable, Alias("coordinator.ResponseCachePut")]
public sealed record ResponseCachePut(
    [property: Id(0)] byte[] Value,
    [property: Id(1)] long? TtlMs = null,
    [property: Id(2)] string[]? Tags = null,
    [property: Id(3)] float[]? Embedding = null,
    [property: Id(4)] string? FillToken = null)
{
    /// <summary>A write of a text value (stored as UTF-8).</summary>
    public static ResponseCachePut Text(string value, long? ttlMs = null, string[]? tags = null, float[]? embedding = null, string? fillToken = null)
        => new(Encoding.UTF8.GetBytes(value), ttlMs, tags, embedding, fillToken);
}

/// <summary>How a write went.</summary>
public enum ResponseCacheWriteStatus
{
    /// <summary>Stored.</summary>
    Stored = 0,

    /// <summary>The namespace does not exist.</summary>
    NoNamespace = 1,

    /// <summary>Not stored: the silo's cache memory (<c>Cache:MaxBytesPerSilo</c>) is spent by other namespaces.</summary>
    SiloFull = 2,
}

/// <summary>The answer to <see cref="IResponseCacheGrain.PutAsync"/>.</summary>
/// <param name="Status">Stored, or why not.</param>
/// <param name="ExpiresAtMs">When the entry expires (Unix ms); 0 when not stored.</param>
/// <param name="FillCompleted">True when the write carried the current fill token (callers waiting for it get the value).</param>
/// <param name="Evicted">Entries evicted to make room.</param>
[GenerateSerializer, Immutable, Alias("coordinator.ResponseCacheWriteResult")]
public sealed record ResponseCacheWriteResult(
    [property: Id(0)] ResponseCacheWriteStatus Status,
    [property: Id(1)] long ExpiresAtMs,
    [property: Id(2)] bool FillCompleted,
    [property: Id(3)] int Evicted);

/// <summary>What an exact lookup found.</summary>
public enum ResponseCacheLookupStatus
{
    /// <summary>The entry is there (<see cref="ResponseCacheLookup.Entry"/>).</summary>
    Hit = 0,

    /// <summary>No entry; with a fill token when this caller is to compute it.</summary>
    Miss = 1,

    /// <summary>The namespace does not exist.</summary>
    NoNamespace = 2,
}

/// <summary>An entry as read.</summary>
/// <param name="Value">The value, UTF-8.</param>
/// <param name="CreatedAtMs">When it was written (Unix ms).</param>
/// <param name="ExpiresAtMs">When it expires (Unix ms).</param>
/// <param name="Hits">Lookups that returned it, this one included.</param>
[GenerateSerializer, Immutable, Alias("coordinator.ResponseCacheEntry")]
public sealed record ResponseCacheEntry(
    [property: Id(0)] byte[] Value,
    [property: Id(1)] long CreatedAtMs,
    [property: Id(2)] long ExpiresAtMs,
    [property: Id(3)] long Hits)
{
    /// <summary>The value as text.</summary>
    public string GetValueText() => Encoding.UTF8.GetString(Value);
}

/// <summary>The answer to <see cref="IResponseCacheGrain.GetAsync"/>.</summary>
/// <param name="Status">Hit, miss or no namespace.</param>
/// <param name="Entry">The entry on a hit.</param>
/// <param name="FillToken">On a miss with <c>fill</c>: the token of the fill this caller must compute and write back; null when another caller is filling.</param>
/// <param name="FillPending">On a miss: true when another caller holds the fill (this one waited its <c>waitMs</c> in vain or did not wait).</param>
[GenerateSerializer, Immutable, Alias("coordinator.ResponseCacheLookup")]
public sealed record ResponseCacheLookup(
    [property: Id(0)] ResponseCacheLookupStatus Status,
    [property: Id(1)] ResponseCacheEntry? Entry = null,
    [property: Id(2)] string? FillToken = null,
    [property: Id(3)] bool FillPending = false);

/// <summary>A semantic lookup.</summary>
/// <param name="Embedding">The query embedding (the namespace's dimension; finite, not all zero).</param>
/// <param name="MinScore">Lowest cosine similarity returned, -1 to 1.</param>
/// <param name="TopK">Most matches returned (1 to 100; default 5).</param>
[GenerateSerializer, Immutable, Alias("coordinator.ResponseCacheSimilarQuery")]
public sealed record ResponseCacheSimilarQuery(
    [property: Id(0)] float[] Embedding,
    [property: Id(1)] float MinScore,
    [property: Id(2)] int TopK = ResponseCacheLimits.DefaultTopK);

/// <summary>One semantic match.</summary>
/// <param name="Key">The entry's key.</param>
/// <param name="Score">Cosine similarity of the query and the entry's embedding (as stored, see <see cref="IResponseCacheGrain.SimilarAsync"/>).</param>
/// <param name="Entry">The entry.</param>
[GenerateSerializer, Immutable, Alias("coordinator.ResponseCacheMatch")]
public sealed record ResponseCacheMatch(
    [property: Id(0)] string Key,
    [property: Id(1)] float Score,
    [property: Id(2)] ResponseCacheEntry Entry);

/// <summary>The answer to <see cref="IResponseCacheGrain.SimilarAsync"/>: null matches when the namespace does not exist.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.ResponseCacheSimilarResult")]
public sealed record ResponseCacheSimilarResult([property: Id(0)] ResponseCacheMatch[]? Matches);
