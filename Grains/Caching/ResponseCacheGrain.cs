using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Caching;
using Orleans.Coordinator.Grains.Interfaces.Configuration;

namespace Orleans.Coordinator.Grains.Caching;

/// <summary>
/// Single writer over one namespace's <see cref="ResponseCacheBook"/> and <see cref="SingleFlightBook"/>. Reentrant so
/// that callers waiting for a fill do not hold up the filler's write; every step that reads or changes the books is
/// synchronous (one turn), so no two of them interleave. Settings writes are persisted first, one at a time.
/// </summary>
[Reentrant]
internal sealed class ResponseCacheGrain(
    [PersistentState("responseCache", CoordinatorStorage.Name)] IPersistentState<ResponseCacheState> state,
    CoordinatorClock clock,
    SiloCacheMemory memory,
    IRouteStore announcements,
    IOptions<CacheOptions> options) : Grain, IResponseCacheGrain
{
    /// <summary>Indexes this large are searched on the thread pool; smaller ones on the activation's turn.</summary>
    private const int OffloadFrom = 1_024;

    private readonly SemaphoreSlim _settingsWrites = new(1, 1);
    private readonly SingleFlightBook _fills = new();
    private ResponseCacheBook? _book;
    private ResponseCacheSettings? _settings;
    private long _fillsCompleted;
    private int _waiters;
    private long _aliveUntilMs;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Settings is { } settings)
        {
            Open(settings);
        }

        var period = options.Value.SweepPeriod;
        this.RegisterGrainTimer(Sweep, new GrainTimerCreationOptions(period, period) { Interleave = true, KeepAlive = false });
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        Close();
        return Task.CompletedTask;
    }

    public async Task<ResponseCacheStats> ConfigureAsync(ResponseCacheSettings settings)
    {
        ResponseCacheLimits.Validate(settings);
        await _settingsWrites.WaitAsync();
        try
        {
            await state.UpdateAsync(s =>
            {
                s.Settings = settings;
                return (true, true);
            });

            if (_book is null || _settings is null)
            {
                Open(settings);
            }
            else if (_settings.Dimension != settings.Dimension)
            {
                _fills.Clear();
                _book.Clear(settings.Dimension);
                _book.Resize(settings.MaxEntries, settings.MaxBytes);
            }
            else
            {
                _book.Resize(settings.MaxEntries, settings.MaxBytes);
            }

            _settings = settings;
            await AnnounceAsync(null);
            return Stats(_book!, settings);
        }
        finally
        {
            _settingsWrites.Release();
        }
    }

    public Task<ResponseCacheStats?> GetStatsAsync()
        => Task.FromResult(_book is { } book && _settings is { } settings ? Stats(book, settings) : null);

    public async Task<bool> DeleteAsync()
    {
        await _settingsWrites.WaitAsync();
        try
        {
            var existed = state.State.Settings is not null;
            if (existed)
            {
                await state.ClearStateAsync();
            }

            Close();
            await AnnounceAsync(null);
            return existed;
        }
        finally
        {
            _settingsWrites.Release();
        }
    }

    public async Task<ResponseCacheLookup> GetAsync(string key, bool fill = false, int waitMs = 0)
    {
        ValidateKey(key);
        ResponseCacheLimits.ValidateWait(waitMs);
        if (_book is not { } book || _settings is not { } settings)
        {
            return new ResponseCacheLookup(ResponseCacheLookupStatus.NoNamespace);
        }

        var now = clock.NowMs;
        var waits = fill && waitMs > 0;
        if (book.Get(key, now, countLookup: !waits) is { } entry)
        {
            if (waits)
            {
                book.CountLookup(hit: true);
            }

            return Hit(entry);
        }

        if (!fill)
        {
            return new ResponseCacheLookup(ResponseCacheLookupStatus.Miss, FillPending: _fills.Current(key, now) is not null);
        }

        var (mustFill, pending) = _fills.Begin(key, now, settings.FillTimeoutMs, GrainKeys.NewOpaqueId);
        if (mustFill || !waits)
        {
            if (waits)
            {
                book.CountLookup(hit: false);
            }

            return mustFill
                ? new ResponseCacheLookup(ResponseCacheLookupStatus.Miss, FillToken: pending.Token)
                : new ResponseCacheLookup(ResponseCacheLookupStatus.Miss, FillPending: true);
        }

        // Another caller is computing the value: wait for its write, its giving up, or its token's expiry.
        var wait = Math.Min(waitMs, pending.ExpiresAtMs - now);
        _waiters++;
        try
        {
            await pending.Done.WaitAsync(TimeSpan.FromMilliseconds(Math.Max(0, wait)), clock.TimeProvider);
        }
        catch (TimeoutException)
        {
            // Answered below from what is there now.
        }
        finally
        {
            _waiters--;
        }

        if (_book is not { } after)
        {
            return new ResponseCacheLookup(ResponseCacheLookupStatus.NoNamespace);
        }

        now = clock.NowMs;
        return after.Get(key, now) is { } filled
            ? Hit(filled)
            : new ResponseCacheLookup(ResponseCacheLookupStatus.Miss, FillPending: _fills.Current(key, now) is not null);
    }

    public async Task<ResponseCacheWriteResult> PutAsync(string key, ResponseCachePut put)
    {
        ValidateKey(key);
        ArgumentNullException.ThrowIfNull(put);
        if (_book is not { } book || _settings is not { } settings)
        {
            return new ResponseCacheWriteResult(ResponseCacheWriteStatus.NoNamespace, 0, false, 0);
        }

        ResponseCacheLimits.ValidatePut(put, settings);
        var bytes = ResponseCacheLimits.EntryBytes(key, put.Value.Length, put.Tags, put.Embedding is null ? 0 : settings.Dimension ?? 0);
        if (bytes > settings.MaxBytes)
        {
            throw new CoordinatorValidationException("value", $"the entry counts {bytes} bytes with its key, tags and embedding: more than the namespace's maxBytes ({settings.MaxBytes}).");
        }

        var now = clock.NowMs;
        var ttl = put.TtlMs ?? settings.DefaultTtlMs;
        var (outcome, entry, evicted) = book.Put(key, put.Value, ttl, put.Tags, put.Embedding, now);
        // A stored value ends any pending fill (its waiters read it); a value that could not be stored gives up only the
        // fill it was for, so the next caller is told to compute instead of every waiter finding nothing.
        var completed = false;
        if (entry is not null)
        {
            completed = _fills.Written(key, put.FillToken, now);
        }
        else if (put.FillToken is { } token)
        {
            _fills.Abandon(key, token);
        }
        if (completed)
        {
            _fillsCompleted++;
        }

        // Gateways drop their copies of the key (the old value, or none when this one was not stored).
        await AnnounceAsync(key);
        if (entry is null)
        {
            return new ResponseCacheWriteResult(ResponseCacheWriteStatus.SiloFull, 0, completed, evicted);
        }

        KeepAliveUntil(entry.ExpiresAtMs, now);
        return new ResponseCacheWriteResult(ResponseCacheWriteStatus.Stored, entry.ExpiresAtMs, completed, evicted);
    }

    public async Task<bool> RemoveAsync(string key, string? fillToken = null)
    {
        ValidateKey(key);
        if (fillToken is not null && !GrainKeys.TryOpaqueId(fillToken, "fillToken", out _, out var error))
        {
            throw new CoordinatorValidationException("fillToken", error);
        }

        var abandoned = fillToken is not null && _fills.Abandon(key, fillToken);
        var removed = _book?.Remove(key) ?? false;
        if (removed)
        {
            await AnnounceAsync(key);
        }

        return removed || abandoned;
    }

    public async Task<int> InvalidateAsync(string[] tags)
    {
        ResponseCacheLimits.ValidateTags(tags, "tags", allowEmpty: false);
        var dropped = _book?.Invalidate(tags) ?? -1;
        if (dropped > 0)
        {
            await AnnounceAsync(null); // gateways keep no tags: they drop the namespace's copies
        }

        return dropped;
    }

    public Task RecordHitsAsync(string[] keys, int[] counts)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(counts);
        if (_book is { } book)
        {
            var now = clock.NowMs;
            for (var i = 0; i < Math.Min(keys.Length, counts.Length); i++)
            {
                book.RecordHits(keys[i], counts[i], now);
            }
        }

        return Task.CompletedTask;
    }

    public async Task<ResponseCacheSimilarResult> SimilarAsync(ResponseCacheSimilarQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (_book is not { } book || _settings is not { } settings)
        {
            return new ResponseCacheSimilarResult(null);
        }

        ResponseCacheLimits.ValidateQuery(query, settings);
        var index = book.Index!;
        var now = clock.NowMs;
        // A large scan runs on the thread pool, so several run at once on all cores while this activation goes on
        // serving (the index takes one writer beside any number of searches); the entries are read back on this turn.
        var matches = index.Count < OffloadFrom
            ? index.Search(query.Embedding, query.MinScore, query.TopK, now)
            : await Task.Run(() => index.Search(query.Embedding, query.MinScore, query.TopK, now));
        var answer = book.ResolveMatches(index, matches, query.TopK, clock.NowMs);
        return new ResponseCacheSimilarResult([.. answer.Select(m => new ResponseCacheMatch(m.Entry.Key, m.Score, ToEntry(m.Entry)))]);
    }

    /// <summary>Tells every gateway to drop its copies of <paramref name="key"/> (null: of the whole namespace). Never throws.</summary>
    private Task AnnounceAsync(string? key)
        => announcements.AnnounceChangeAsync(GrainKeys.ResponseCacheChange(this.GetPrimaryKeyString(), key));

    private void Open(ResponseCacheSettings settings)
    {
        _book = new ResponseCacheBook(settings.MaxEntries, settings.MaxBytes, settings.Dimension, memory, ResponseCacheLimits.EntryBytes);
        _settings = settings;
    }

    private void Close()
    {
        _fills.Clear();
        _book?.Clear(null);
        _book = null;
        _settings = null;
    }

    private Task Sweep(CancellationToken cancellationToken)
    {
        var now = clock.NowMs;
        _book?.SweepExpired(now);
        _fills.SweepExpired(now);
        return Task.CompletedTask;
    }

    /// <summary>Keeps the activation (and its entries) while they may still be read: idle collection would drop them.</summary>
    private void KeepAliveUntil(long expiresAtMs, long nowMs)
    {
        if (expiresAtMs <= _aliveUntilMs)
        {
            return;
        }

        // Round up by a minute so a stream of writes does not call the runtime each time.
        _aliveUntilMs = expiresAtMs + 60_000;
        DelayDeactivation(TimeSpan.FromMilliseconds(_aliveUntilMs - nowMs));
    }

    private ResponseCacheStats Stats(ResponseCacheBook book, ResponseCacheSettings settings)
        => new(settings, book.Count, book.Bytes, book.Hits, book.Misses, book.Evictions, _fillsCompleted, _waiters);

    private static ResponseCacheLookup Hit(CachedResponse entry) => new(ResponseCacheLookupStatus.Hit, ToEntry(entry));

    private static ResponseCacheEntry ToEntry(CachedResponse entry) => new(entry.Value, entry.CreatedAtMs, entry.ExpiresAtMs, entry.Hits);

    private static void ValidateKey(string key)
    {
        if (!GrainKeys.TryCacheKey(key, out _, out var error))
        {
            throw new CoordinatorValidationException("key", error);
        }
    }
}
