namespace Orleans.Coordinator.Grains.Domain;

/// <summary>A budget of bytes shared by several caches (a silo's cache memory): reserve before holding, release after.</summary>
public interface ICacheMemoryBudget
{
    /// <summary>Bytes not taken now (a hint: another cache may take them at any moment).</summary>
    long Available { get; }

    /// <summary>Takes <paramref name="bytes"/> from the budget; false (nothing taken) when it has not that much left.</summary>
    bool TryReserve(long bytes);

    /// <summary>Gives <paramref name="bytes"/> back.</summary>
    void Release(long bytes);
}

/// <summary>A budget without bound (tests, single caches).</summary>
public sealed class UnboundedCacheMemory : ICacheMemoryBudget
{
    /// <inheritdoc />
    public long Available => long.MaxValue;

    /// <inheritdoc />
    public bool TryReserve(long bytes) => true;

    /// <inheritdoc />
    public void Release(long bytes)
    {
    }
}

/// <summary>One cached entry (owned by a <see cref="ResponseCacheBook"/>; read it, do not change it).</summary>
public sealed class CachedResponse
{
    // Kept small on purpose (80 bytes with the object header): the time to live instead of the creation time, the
    // counted bytes recomputed when dropped.
    private readonly uint _ttlMs;

    internal CachedResponse(string key, byte[] value, long createdAtMs, long expiresAtMs, string[]? tags)
    {
        Key = key;
        Value = value;
        ExpiresAtMs = expiresAtMs;
        _ttlMs = (uint)Math.Clamp(expiresAtMs - createdAtMs, 0, uint.MaxValue);
        Tags = tags;
    }

    /// <summary>The entry's key.</summary>
    public string Key { get; }

    /// <summary>The value, UTF-8.</summary>
    public byte[] Value { get; }

    /// <summary>When written (Unix ms).</summary>
    public long CreatedAtMs => ExpiresAtMs - _ttlMs;

    /// <summary>When it expires (Unix ms).</summary>
    public long ExpiresAtMs { get; }

    /// <summary>The tags it can be invalidated by.</summary>
    public string[]? Tags { get; }

    /// <summary>Lookups that returned it.</summary>
    public long Hits { get; internal set; }

    internal int Slot { get; set; } = -1;

    internal CachedResponse? Newer { get; set; }

    internal CachedResponse? Older { get; set; }
}

/// <summary>Why a write was not stored.</summary>
public enum CacheWriteOutcome
{
    /// <summary>Stored.</summary>
    Stored,

    /// <summary>The shared budget (<see cref="ICacheMemoryBudget"/>) could not make room even after this cache emptied itself.</summary>
    BudgetSpent,
}

/// <summary>
/// A bounded cache of values with time to live, tags, LRU eviction by entries and by bytes, and an optional
/// <see cref="VectorIndex"/> for semantic lookups. Pure: the caller passes the time; the bytes it holds are reserved
/// in an <see cref="ICacheMemoryBudget"/>. An expired entry is a miss and is dropped when next touched or swept.
/// </summary>
public sealed class ResponseCacheBook
{
    private readonly Dictionary<string, CachedResponse> _entries = new(StringComparer.Ordinal);
    private readonly ICacheMemoryBudget _budget;
    private readonly Func<string, int, string[]?, int, long> _measure;
    private VectorIndex? _index;
    private CachedResponse?[] _bySlot = [];
    private CachedResponse? _newest;
    private CachedResponse? _oldest;

    /// <summary>Creates an empty book; <paramref name="measure"/> gives an entry's bytes from its key, value length, tags and dimension.</summary>
    public ResponseCacheBook(int maxEntries, long maxBytes, int? dimension, ICacheMemoryBudget budget, Func<string, int, string[]?, int, long> measure)
    {
        _budget = budget;
        _measure = measure;
        Resize(maxEntries, maxBytes);
        _index = dimension is { } d ? new VectorIndex(d) : null;
    }

    /// <summary>Most entries.</summary>
    public int MaxEntries { get; private set; }

    /// <summary>Most bytes.</summary>
    public long MaxBytes { get; private set; }

    /// <summary>The embeddings' dimension, or null.</summary>
    public int? Dimension => _index?.Dimension;

    /// <summary>Entries held.</summary>
    public int Count => _entries.Count;

    /// <summary>Bytes held.</summary>
    public long Bytes { get; private set; }

    /// <summary>Lookups that found something.</summary>
    public long Hits { get; private set; }

    /// <summary>Lookups that found nothing.</summary>
    public long Misses { get; private set; }

    /// <summary>Entries dropped for room.</summary>
    public long Evictions { get; private set; }

    /// <summary>Changes the bounds, evicting the least recently used entries beyond them; answers how many went.</summary>
    public int Resize(int maxEntries, long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEntries, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        MaxEntries = maxEntries;
        MaxBytes = maxBytes;
        var evicted = 0;
        while (_oldest is not null && (Count > MaxEntries || Bytes > MaxBytes))
        {
            Drop(_oldest);
            evicted++;
        }

        Evictions += evicted;
        return evicted;
    }

    /// <summary>Drops every entry (and the index, which gets <paramref name="dimension"/>).</summary>
    public void Clear(int? dimension)
    {
        while (_oldest is not null)
        {
            Drop(_oldest);
        }

        _index = dimension is { } d ? new VectorIndex(d) : null;
        _bySlot = [];
    }

    /// <summary>
    /// The live entry of <paramref name="key"/> (moved to the front of the LRU order, its hits counted), or null. With
    /// <paramref name="countLookup"/> false the lookup is not counted as a hit or miss (see <see cref="CountLookup"/>).
    /// </summary>
    public CachedResponse? Get(string key, long nowMs, bool countLookup = true)
    {
        if (!_entries.TryGetValue(key, out var entry) || entry.ExpiresAtMs <= nowMs)
        {
            if (entry is not null)
            {
                Drop(entry);
            }

            if (countLookup)
            {
                Misses++;
            }

            return null;
        }

        Touch(entry);
        entry.Hits++;
        if (countLookup)
        {
            Hits++;
        }

        return entry;
    }

    /// <summary>Counts <paramref name="count"/> hits of <paramref name="key"/> served elsewhere (a gateway's copy): touched, hits counted; nothing when it is gone.</summary>
    public void RecordHits(string key, int count, long nowMs)
    {
        if (count <= 0 || !_entries.TryGetValue(key, out var entry) || entry.ExpiresAtMs <= nowMs)
        {
            return;
        }

        Touch(entry);
        entry.Hits += count;
        Hits += count;
    }

    /// <summary>Counts a lookup whose outcome was decided later (a caller that waited for a fill).</summary>
    public void CountLookup(bool hit)
    {
        if (hit)
        {
            Hits++;
        }
        else
        {
            Misses++;
        }
    }

    /// <summary>The live entry of <paramref name="key"/> without counting a lookup or touching the LRU order.</summary>
    public CachedResponse? Peek(string key, long nowMs)
        => _entries.TryGetValue(key, out var entry) && entry.ExpiresAtMs > nowMs ? entry : null;

    /// <summary>
    /// Stores an entry (replacing one of the same key), evicting least recently used entries to stay within the bounds
    /// and the shared budget. The entry must fit the bounds on its own (the caller validates that). Answers the
    /// outcome, the entry when stored, and how many entries were evicted.
    /// </summary>
    public (CacheWriteOutcome Outcome, CachedResponse? Entry, int Evicted) Put(
        string key, byte[] value, long ttlMs, string[]? tags, ReadOnlySpan<float> embedding, long nowMs)
    {
        var dimension = embedding.IsEmpty ? 0 : _index?.Dimension ?? throw new ArgumentException("The book has no dimension.", nameof(embedding));
        var bytes = _measure(key, value.Length, tags, dimension);
        if (_budget.Available < bytes && _budget.Available + Bytes < bytes)
        {
            // Even emptying this cache would not make room (the others hold the rest): refuse without touching it.
            return (CacheWriteOutcome.BudgetSpent, null, 0);
        }

        if (_entries.TryGetValue(key, out var old))
        {
            Drop(old);
        }

        var evicted = 0;
        while (_oldest is not null && (Count + 1 > MaxEntries || Bytes + bytes > MaxBytes))
        {
            Drop(_oldest);
            evicted++;
        }

        while (!_budget.TryReserve(bytes))
        {
            if (_oldest is null)
            {
                Evictions += evicted;
                return (CacheWriteOutcome.BudgetSpent, null, evicted);
            }

            Drop(_oldest);
            evicted++;
        }

        Evictions += evicted;
        var entry = new CachedResponse(key, value, nowMs, nowMs + ttlMs, tags);
        if (!embedding.IsEmpty)
        {
            entry.Slot = _index!.Add(embedding, entry.ExpiresAtMs);
            if (_bySlot.Length <= entry.Slot)
            {
                Array.Resize(ref _bySlot, Math.Max(entry.Slot + 1, Math.Max(64, _bySlot.Length * 2)));
            }

            _bySlot[entry.Slot] = entry;
        }

        _entries.Add(key, entry);
        Bytes += bytes;
        LinkNewest(entry);
        return (CacheWriteOutcome.Stored, entry, evicted);
    }

    /// <summary>Drops the entry of <paramref name="key"/>; false when there was none.</summary>
    public bool Remove(string key)
    {
        if (!_entries.TryGetValue(key, out var entry))
        {
            return false;
        }

        Drop(entry);
        return true;
    }

    /// <summary>Drops every entry carrying one of <paramref name="tags"/> (ordinal); answers how many.</summary>
    public int Invalidate(IReadOnlyCollection<string> tags)
    {
        var set = new HashSet<string>(tags, StringComparer.Ordinal);
        var doomed = _entries.Values.Where(e => e.Tags is { } t && t.Any(set.Contains)).ToList();
        foreach (var entry in doomed)
        {
            Drop(entry);
        }

        return doomed.Count;
    }

    /// <summary>Drops expired entries, at most <paramref name="max"/>; answers how many.</summary>
    public int SweepExpired(long nowMs, int max = int.MaxValue)
    {
        var doomed = _entries.Values.Where(e => e.ExpiresAtMs <= nowMs).Take(max).ToList();
        foreach (var entry in doomed)
        {
            Drop(entry);
        }

        return doomed.Count;
    }

    /// <summary>The embeddings' index, for searches off the writer's thread (<see cref="VectorIndex.Search"/> is safe beside the one writer); null without a dimension.</summary>
    public VectorIndex? Index => _index;

    /// <summary>
    /// The live entries whose embedding is most similar to <paramref name="query"/> (cosine at or above
    /// <paramref name="minScore"/>), best first, ties by key (ordinal), at most <paramref name="topK"/>: a search of
    /// <see cref="Index"/> and <see cref="ResolveMatches"/> in one step.
    /// </summary>
    public List<(CachedResponse Entry, float Score)> Similar(ReadOnlySpan<float> query, float minScore, int topK, long nowMs)
    {
        var index = _index ?? throw new InvalidOperationException("The book has no dimension.");
        return ResolveMatches(index, index.Search(query, minScore, topK, nowMs), topK, nowMs);
    }

    /// <summary>
    /// Turns the matches of a search of <paramref name="searched"/> into entries: those still held (the same index, the
    /// slot not reused since, not expired at <paramref name="nowMs"/>), best first, ties by key (ordinal), at most
    /// <paramref name="topK"/>. Each returned entry is touched and its hits counted; the lookup counts as a hit when
    /// anything matched, else as a miss.
    /// </summary>
    public List<(CachedResponse Entry, float Score)> ResolveMatches(VectorIndex searched, IReadOnlyList<VectorMatch> matches, int topK, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(searched);
        ArgumentNullException.ThrowIfNull(matches);
        var answer = !ReferenceEquals(searched, _index)
            ? []
            : matches
                .Where(m => m.Slot < _bySlot.Length && _bySlot[m.Slot] is { } e && e.ExpiresAtMs > nowMs && searched.GenerationOf(m.Slot) == m.Generation)
                .Select(m => (Entry: _bySlot[m.Slot]!, m.Score))
                .OrderByDescending(m => m.Score)
                .ThenBy(m => m.Entry.Key, StringComparer.Ordinal)
                .Take(topK)
                .ToList();
        foreach (var (entry, _) in answer)
        {
            Touch(entry);
            entry.Hits++;
        }

        if (answer.Count > 0)
        {
            Hits++;
        }
        else
        {
            Misses++;
        }

        return answer;
    }

    /// <summary>Entries from least to most recently used (tests and diagnostics).</summary>
    public IEnumerable<string> KeysOldestFirst()
    {
        for (var e = _oldest; e is not null; e = e.Newer)
        {
            yield return e.Key;
        }
    }

    private void Drop(CachedResponse entry)
    {
        _entries.Remove(entry.Key);
        Unlink(entry);
        var bytes = _measure(entry.Key, entry.Value.Length, entry.Tags, entry.Slot >= 0 ? _index!.Dimension : 0);
        if (entry.Slot >= 0)
        {
            _index!.Remove(entry.Slot);
            _bySlot[entry.Slot] = null;
            entry.Slot = -1;
        }

        Bytes -= bytes;
        _budget.Release(bytes);
    }

    private void Touch(CachedResponse entry)
    {
        if (_newest == entry)
        {
            return;
        }

        Unlink(entry);
        LinkNewest(entry);
    }

    private void LinkNewest(CachedResponse entry)
    {
        entry.Older = _newest;
        entry.Newer = null;
        if (_newest is not null)
        {
            _newest.Newer = entry;
        }

        _newest = entry;
        _oldest ??= entry;
    }

    private void Unlink(CachedResponse entry)
    {
        if (entry.Older is not null)
        {
            entry.Older.Newer = entry.Newer;
        }
        else if (_oldest == entry)
        {
            _oldest = entry.Newer;
        }

        if (entry.Newer is not null)
        {
            entry.Newer.Older = entry.Older;
        }
        else if (_newest == entry)
        {
            _newest = entry.Older;
        }

        entry.Newer = null;
        entry.Older = null;
    }
}
