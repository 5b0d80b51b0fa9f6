using Orleans.Concurrency;

namespace Orleans.Coordinator.Grains.Interfaces.Caching;

/// <summary>
/// One response-cache namespace of one tenant (key: <see cref="GrainKeys.ResponseCacheNamespace"/>). The settings are
/// persisted; the entries are soft state in the memory of the silo that hosts the namespace (a silo crash or a
/// deactivation loses them, as a cache may), bounded by the namespace's <c>maxEntries</c> and <c>maxBytes</c> and by
/// the silo's <c>Cache:MaxBytesPerSilo</c>. The grain is the single writer of its keys, so one miss is computed once
/// (see <see cref="GetAsync"/>); while the cluster's membership changes, two activations may briefly each hand out one
/// fill token.
/// </summary>
[Alias("coordinator.IResponseCacheGrain")]
public interface IResponseCacheGrain : IGrainWithStringKey
{
    /// <summary>
    /// Creates the namespace or changes its settings. Lower bounds evict least recently used entries at once; a new
    /// <see cref="ResponseCacheSettings.Dimension"/> drops every entry. Throws <see cref="CoordinatorValidationException"/>
    /// naming the field out of range (<see cref="ResponseCacheLimits.Validate"/>).
    /// </summary>
    [Alias("Configure")]
    Task<ResponseCacheStats> ConfigureAsync(ResponseCacheSettings settings);

    /// <summary>Settings and live statistics; null when the namespace does not exist.</summary>
    [Alias("GetStats")]
    Task<ResponseCacheStats?> GetStatsAsync();

    /// <summary>Drops the namespace, its settings and every entry; false when it did not exist.</summary>
    [Alias("Delete")]
    Task<bool> DeleteAsync();

    /// <summary>
    /// Looks a key up. A hit moves the entry to the front of the LRU order. On a miss with <paramref name="fill"/>:
    /// when nobody is filling the key, this caller gets a fill token and the duty to compute the value and write it
    /// with <see cref="PutAsync"/> within <see cref="ResponseCacheSettings.FillTimeoutMs"/>; otherwise it waits up to
    /// <paramref name="waitMs"/> (0 to 60,000 ms) for that fill and gets the value, or a miss with
    /// <see cref="ResponseCacheLookup.FillPending"/> when the filler gave up, failed or its token expired first.
    /// Of any number of concurrent misses of one key, exactly one caller is told to compute.
    /// </summary>
    [Alias("Get")]
    [ResponseTimeout("00:01:05")]
    Task<ResponseCacheLookup> GetAsync(string key, bool fill = false, int waitMs = 0);

    /// <summary>
    /// Writes an entry (replacing one of the same key), evicting least recently used entries to stay within the
    /// bounds; completes a pending fill of the key (its waiters get the value). Throws
    /// <see cref="CoordinatorValidationException"/> for a value, ttl, tag or embedding out of range.
    /// </summary>
    [Alias("Put")]
    Task<ResponseCacheWriteResult> PutAsync(string key, ResponseCachePut put);

    /// <summary>Drops an entry; false when there was none. With the pending fill's <paramref name="fillToken"/>, gives that fill up (its waiters get a miss at once).</summary>
    [Alias("Remove")]
    Task<bool> RemoveAsync(string key, string? fillToken = null);

    /// <summary>
    /// Counts hits served from gateways' copies (<paramref name="counts"/>[i] hits of <paramref name="keys"/>[i]): each
    /// entry still held is moved to the front of the LRU order and its hits counted. Statistics only.
    /// </summary>
    [Alias("RecordHits")]
    [OneWay]
    Task RecordHitsAsync(string[] keys, int[] counts);

    /// <summary>Drops every entry carrying one of <paramref name="tags"/>; answers how many (-1 when the namespace does not exist).</summary>
    [Alias("Invalidate")]
    Task<int> InvalidateAsync(string[] tags);

    /// <summary>
    /// The entries whose embedding is most similar to the query (cosine similarity at or above
    /// <see cref="ResponseCacheSimilarQuery.MinScore"/>), best first, at most <see cref="ResponseCacheSimilarQuery.TopK"/>;
    /// ties by key. Exact over every live entry: an int8 scan with a proven error bound picks the candidates, which are
    /// then scored on the stored embedding (kept at half precision, IEEE 754 binary16: a score differs from the
    /// float32 cosine by less than 0.001). Throws <see cref="CoordinatorValidationException"/> when the namespace has no
    /// dimension or the query does not fit it.
    /// </summary>
    [Alias("Similar")]
    Task<ResponseCacheSimilarResult> SimilarAsync(ResponseCacheSimilarQuery query);
}

/// <summary>Bounds on response-cache namespaces, entries and queries, and how an entry's bytes are counted.</summary>
public static class ResponseCacheLimits
{
    /// <summary>Longest namespace name.</summary>
    public const int MaxNamespaceLength = 64;

    /// <summary>Longest entry key (printable ASCII, e.g. a prompt hash).</summary>
    public const int MaxKeyLength = 256;

    /// <summary>Most entries per namespace.</summary>
    public const int MaxEntries = 1_000_000;

    /// <summary>Smallest <c>maxBytes</c>: 64 KiB.</summary>
    public const long MinBytes = 64 * 1024;

    /// <summary>Largest <c>maxBytes</c>: 16 GiB.</summary>
    public const long MaxBytes = 16L * 1024 * 1024 * 1024;

    /// <summary>Shortest ttl: 1 s.</summary>
    public const long MinTtlMs = 1_000;

    /// <summary>Longest ttl: 30 days.</summary>
    public const long MaxTtlMs = 30L * 24 * 3_600_000;

    /// <summary>Largest embedding dimension.</summary>
    public const int MaxDimension = 4_096;

    /// <summary>Largest <c>maxValueBytes</c>: 16 MiB.</summary>
    public const int MaxValueBytes = 16 * 1024 * 1024;

    /// <summary>Shortest fill timeout: 1 s.</summary>
    public const long MinFillTimeoutMs = 1_000;

    /// <summary>Longest fill timeout: 10 min.</summary>
    public const long MaxFillTimeoutMs = 600_000;

    /// <summary>Longest wait for another caller's fill.</summary>
    public const int MaxWaitMs = 60_000;

    /// <summary>Most tags per entry (and per invalidation).</summary>
    public const int MaxTags = 16;

    /// <summary>Longest tag.</summary>
    public const int MaxTagLength = 128;

    /// <summary>Default and largest <c>topK</c>.</summary>
    public const int DefaultTopK = 5, MaxTopK = 100;

    /// <summary>Bytes counted per entry besides its key, value, tags and embedding (the entry object, its LRU links and index slot).</summary>
    public const int EntryOverheadBytes = 160;

    /// <summary>
    /// The bytes an entry is counted as against <c>maxBytes</c> and <c>Cache:MaxBytesPerSilo</c>: its value, its key and
    /// tags (UTF-16, 2 bytes a character), 3 bytes per embedding dimension (half-precision copy and int8 code) and
    /// <see cref="EntryOverheadBytes"/>.
    /// </summary>
    public static long EntryBytes(string key, int valueBytes, string[]? tags, int dimension)
    {
        ArgumentNullException.ThrowIfNull(key);
        long bytes = EntryOverheadBytes + valueBytes + 2L * key.Length + 3L * dimension;
        if (tags is not null)
        {
            foreach (var tag in tags)
            {
                bytes += 2L * tag.Length + 8;
            }
        }

        return bytes;
    }

    /// <summary>Throws <see cref="CoordinatorValidationException"/> naming the first setting out of range.</summary>
    public static void Validate(ResponseCacheSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.MaxEntries is < 1 or > MaxEntries)
        {
            throw new CoordinatorValidationException("maxEntries", $"maxEntries must be between 1 and {MaxEntries}.");
        }

        if (settings.MaxBytes is < MinBytes or > MaxBytes)
        {
            throw new CoordinatorValidationException("maxBytes", $"maxBytes must be between {MinBytes} and {MaxBytes}.");
        }

        if (settings.DefaultTtlMs is < MinTtlMs or > MaxTtlMs)
        {
            throw new CoordinatorValidationException("defaultTtlMs", $"defaultTtlMs must be between {MinTtlMs} and {MaxTtlMs}.");
        }

        if (settings.Dimension is < 1 or > MaxDimension)
        {
            throw new CoordinatorValidationException("dimension", $"dimension must be between 1 and {MaxDimension}.");
        }

        if (settings.MaxValueBytes is < 1 or > MaxValueBytes)
        {
            throw new CoordinatorValidationException("maxValueBytes", $"maxValueBytes must be between 1 and {MaxValueBytes}.");
        }

        if (settings.FillTimeoutMs is < MinFillTimeoutMs or > MaxFillTimeoutMs)
        {
            throw new CoordinatorValidationException("fillTimeoutMs", $"fillTimeoutMs must be between {MinFillTimeoutMs} and {MaxFillTimeoutMs}.");
        }
    }

    /// <summary>Throws <see cref="CoordinatorValidationException"/> for a wait out of range.</summary>
    public static void ValidateWait(int waitMs)
    {
        if (waitMs is < 0 or > MaxWaitMs)
        {
            throw new CoordinatorValidationException("waitMs", $"waitMs must be between 0 and {MaxWaitMs}.");
        }
    }

    /// <summary>Throws <see cref="CoordinatorValidationException"/> for a write that does not fit <paramref name="settings"/>.</summary>
    public static void ValidatePut(ResponseCachePut put, ResponseCacheSettings settings)
    {
        ArgumentNullException.ThrowIfNull(put);
        ArgumentNullException.ThrowIfNull(settings);
        if (put.Value is null)
        {
            throw new CoordinatorValidationException("value", "value is required.");
        }

        if (put.Value.Length > settings.MaxValueBytes)
        {
            throw new CoordinatorValidationException("value", $"value must be at most {settings.MaxValueBytes} bytes of UTF-8 (the namespace's maxValueBytes).");
        }

        if (put.TtlMs is < MinTtlMs or > MaxTtlMs)
        {
            throw new CoordinatorValidationException("ttlMs", $"ttlMs must be between {MinTtlMs} and {MaxTtlMs}.");
        }

        ValidateTags(put.Tags, "tags", allowEmpty: true);
        if (put.Embedding is not null)
        {
            ValidateEmbedding(put.Embedding, settings, "embedding");
        }

        if (put.FillToken is not null && !GrainKeys.TryOpaqueId(put.FillToken, "fillToken", out _, out var error))
        {
            throw new CoordinatorValidationException("fillToken", error);
        }
    }

    /// <summary>Throws <see cref="CoordinatorValidationException"/> for tags out of range.</summary>
    public static void ValidateTags(string[]? tags, string field, bool allowEmpty)
    {
        if (tags is null || tags.Length == 0)
        {
            if (!allowEmpty)
            {
                throw new CoordinatorValidationException(field, $"{field} must hold 1 to {MaxTags} tags.");
            }

            return;
        }

        if (tags.Length > MaxTags)
        {
            throw new CoordinatorValidationException(field, $"{field} must hold at most {MaxTags} tags.");
        }

        foreach (var tag in tags)
        {
            if (string.IsNullOrEmpty(tag) || tag.Length > MaxTagLength || tag.Any(c => c is <= ' ' or > '~'))
            {
                throw new CoordinatorValidationException(field, $"each tag must be 1 to {MaxTagLength} printable ASCII characters without white space.");
            }
        }
    }

    /// <summary>Throws <see cref="CoordinatorValidationException"/> for a semantic query that does not fit <paramref name="settings"/>.</summary>
    public static void ValidateQuery(ResponseCacheSimilarQuery query, ResponseCacheSettings settings)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(settings);
        ValidateEmbedding(query.Embedding, settings, "embedding");
        if (!float.IsFinite(query.MinScore) || query.MinScore is < -1 or > 1)
        {
            throw new CoordinatorValidationException("minScore", "minScore must be a number between -1 and 1.");
        }

        if (query.TopK is < 1 or > MaxTopK)
        {
            throw new CoordinatorValidationException("topK", $"topK must be between 1 and {MaxTopK}.");
        }
    }

    private static void ValidateEmbedding(float[]? embedding, ResponseCacheSettings settings, string field)
    {
        if (settings.Dimension is not { } dimension)
        {
            throw new CoordinatorValidationException(field, "the namespace has no dimension: set one (PUT the namespace with dimension) to store or query embeddings.");
        }

        if (embedding is null || embedding.Length != dimension)
        {
            throw new CoordinatorValidationException(field, $"{field} must hold exactly {dimension} numbers (the namespace's dimension).");
        }

        var nonZero = false;
        foreach (var x in embedding)
        {
            if (!float.IsFinite(x))
            {
                throw new CoordinatorValidationException(field, $"{field} must hold finite numbers (no NaN or infinity).");
            }

            nonZero |= x != 0;
        }

        if (!nonZero)
        {
            throw new CoordinatorValidationException(field, $"{field} must not be all zeros (its cosine similarity is undefined).");
        }
    }
}
