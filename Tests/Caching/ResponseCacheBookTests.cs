using System.Text;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Interfaces.Caching;

namespace Orleans.Coordinator.Tests.Caching;

public sealed class ResponseCacheBookTests
{
    private const long T0 = 1_800_000_000_000;

    private static ResponseCacheBook NewBook(int maxEntries = 100, long maxBytes = 1 << 20, int? dimension = null, ICacheMemoryBudget? budget = null)
        => new(maxEntries, maxBytes, dimension, budget ?? new UnboundedCacheMemory(), ResponseCacheLimits.EntryBytes);

    private static byte[] V(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public void Entry_LivesForItsTtl_ThenIsAMiss()
    {
        var book = NewBook();
        book.Put("k", V("answer"), ttlMs: 1000, null, default, T0);

        var live = book.Get("k", T0 + 999);
        var expired = book.Get("k", T0 + 1000);

        Assert.Equal("answer", Encoding.UTF8.GetString(live!.Value));
        Assert.Equal((T0, T0 + 1000, 1L), (live.CreatedAtMs, live.ExpiresAtMs, live.Hits));
        Assert.Null(expired);
        Assert.Equal((0, 0L), (book.Count, book.Bytes)); // dropped when touched after expiry
        Assert.Equal((1L, 1L), (book.Hits, book.Misses));
    }

    [Fact]
    public void OverMaxEntries_TheLeastRecentlyUsedGoFirst()
    {
        var book = NewBook(maxEntries: 3);
        book.Put("a", V("1"), 60_000, null, default, T0);
        book.Put("b", V("2"), 60_000, null, default, T0);
        book.Put("c", V("3"), 60_000, null, default, T0);
        book.Get("a", T0); // a is now the most recently used

        var (_, _, evicted) = book.Put("d", V("4"), 60_000, null, default, T0);

        Assert.Equal(1, evicted);
        Assert.Null(book.Peek("b", T0));
        Assert.Equal(["c", "a", "d"], book.KeysOldestFirst());
        Assert.Equal(1, book.Evictions);
    }

    [Fact]
    public void OverMaxBytes_TheLeastRecentlyUsedGoUntilTheNewEntryFits()
    {
        var entry = ResponseCacheLimits.EntryBytes("k0", 1000, null, 0);
        var book = NewBook(maxEntries: 1000, maxBytes: (3 * entry) + 10);
        for (var i = 0; i < 3; i++)
        {
            book.Put($"k{i}", new byte[1000], 60_000, null, default, T0);
        }

        var (_, _, evicted) = book.Put("k9", new byte[1500], 60_000, null, default, T0);

        Assert.Equal(2, evicted); // 500 more bytes need two 1,000-byte entries gone
        Assert.Equal(["k2", "k9"], book.KeysOldestFirst());
        Assert.True(book.Bytes <= book.MaxBytes);
        Assert.Equal(entry + ResponseCacheLimits.EntryBytes("k9", 1500, null, 0), book.Bytes);
    }

    [Fact]
    public void Replace_CountsTheNewSizeOnly()
    {
        var book = NewBook();
        book.Put("k", new byte[100], 60_000, ["t"], default, T0);
        book.Put("k", new byte[10], 60_000, null, default, T0);

        Assert.Equal(1, book.Count);
        Assert.Equal(ResponseCacheLimits.EntryBytes("k", 10, null, 0), book.Bytes);
        Assert.Equal(0, book.Invalidate(["t"])); // the old entry's tags went with it
    }

    [Fact]
    public void Invalidate_DropsEveryEntryCarryingOneOfTheTags()
    {
        var book = NewBook();
        book.Put("a", V("1"), 60_000, ["model:gpt", "user:1"], default, T0);
        book.Put("b", V("2"), 60_000, ["user:2"], default, T0);
        book.Put("c", V("3"), 60_000, ["model:gpt"], default, T0);
        book.Put("d", V("4"), 60_000, null, default, T0);

        var dropped = book.Invalidate(["model:gpt", "user:9"]);

        Assert.Equal(2, dropped);
        Assert.Equal(["b", "d"], book.KeysOldestFirst());
        Assert.Equal(0, book.Evictions); // invalidation is not eviction
    }

    [Fact]
    public void SharedBudget_EvictsOwnEntriesFirst_ThenRefuses()
    {
        var entry = ResponseCacheLimits.EntryBytes("k0", 1000, null, 0);
        var budget = new CountingBudget(2 * entry);
        var mine = NewBook(budget: budget);
        var other = NewBook(budget: budget);
        mine.Put("k0", new byte[1000], 60_000, null, default, T0);
        other.Put("k1", new byte[1000], 60_000, null, default, T0);

        var second = mine.Put("k2", new byte[1000], 60_000, null, default, T0); // evicts mine's k0
        var refused = other.Put("k3", new byte[1000], 60_000, null, default, T0); // evicts its own k1... then fits
        var full = mine.Put("k4", new byte[3000], 60_000, null, default, T0);

        Assert.Equal((CacheWriteOutcome.Stored, 1), (second.Outcome, second.Evicted));
        Assert.Equal(CacheWriteOutcome.Stored, refused.Outcome);
        Assert.Equal(CacheWriteOutcome.BudgetSpent, full.Outcome);
        Assert.Null(full.Entry);
        Assert.Equal(1, mine.Count); // emptying itself could not have made room: refused without touching it
        Assert.Equal(mine.Bytes + other.Bytes, budget.Used);
    }

    [Fact]
    public void Resize_EvictsBeyondTheNewBounds()
    {
        var book = NewBook();
        for (var i = 0; i < 10; i++)
        {
            book.Put($"k{i}", V("v"), 60_000, null, default, T0);
        }

        var evicted = book.Resize(4, 1 << 20);

        Assert.Equal(6, evicted);
        Assert.Equal(["k6", "k7", "k8", "k9"], book.KeysOldestFirst());
    }

    [Fact]
    public void Similar_SkipsExpiredEntries_BreaksTiesByKey_AndTouchesMatches()
    {
        var book = NewBook(dimension: 2);
        book.Put("z", V("1"), 60_000, null, new float[] { 1, 0 }, T0);
        book.Put("a", V("2"), 60_000, null, new float[] { 2, 0 }, T0);
        book.Put("old", V("3"), 1_000, null, new float[] { 1, 0 }, T0);
        book.Put("far", V("4"), 60_000, null, new float[] { 0, 1 }, T0);

        var found = book.Similar(new float[] { 1, 0 }, 0.9f, 5, T0 + 5_000);

        Assert.Equal(["a", "z"], found.Select(m => m.Entry.Key));
        Assert.All(found, m => Assert.Equal(1f, m.Score, 1e-4f));
        Assert.Equal(["old", "far", "a", "z"], book.KeysOldestFirst()); // matches moved to the front, ties by key
        Assert.Equal(1L, book.Hits);
    }

    [Fact]
    public void SweepExpired_DropsOnlyExpired_AndReleasesTheirBytes()
    {
        var budget = new CountingBudget(long.MaxValue);
        var book = NewBook(budget: budget, dimension: 2);
        book.Put("short", V("1"), 1_000, null, new float[] { 1, 0 }, T0);
        book.Put("long", V("2"), 60_000, null, default, T0);

        var swept = book.SweepExpired(T0 + 1_000);

        Assert.Equal(1, swept);
        Assert.Equal(["long"], book.KeysOldestFirst());
        Assert.Equal(book.Bytes, budget.Used);
    }

    [Fact]
    public async Task SingleFlight_FirstMissFills_OthersWait_ExpiryHandsItOn()
    {
        var flights = new SingleFlightBook();
        var tokens = 0;
        string NewToken() => $"t{++tokens}";

        var first = flights.Begin("k", T0, 1_000, NewToken);
        var second = flights.Begin("k", T0 + 10, 1_000, NewToken);
        var afterExpiry = flights.Begin("k", T0 + 1_000, 1_000, NewToken);

        Assert.True(first.MustFill);
        Assert.Equal("t1", first.Fill.Token);
        Assert.False(second.MustFill);
        Assert.Same(first.Fill, second.Fill);
        Assert.True(afterExpiry.MustFill);
        Assert.Equal("t2", afterExpiry.Fill.Token);
        Assert.True(first.Fill.Done.IsCompleted);
        Assert.False(await first.Fill.Done); // ended unfilled: its waiters read a miss
        Assert.False(flights.Written("k", "t1", T0 + 1_001)); // the expired token completes nothing...
        Assert.True(await afterExpiry.Fill.Done); // ...but any write of the key ends the fill for its waiters
    }

    [Fact]
    public async Task SingleFlight_AbandonNeedsTheToken()
    {
        var flights = new SingleFlightBook();
        var (_, fill) = flights.Begin("k", T0, 1_000, () => "tok");

        Assert.False(flights.Abandon("k", "other"));
        Assert.True(flights.Abandon("k", "tok"));
        Assert.False(await fill.Done);
        Assert.Null(flights.Current("k", T0));
    }

    private sealed class CountingBudget(long max) : ICacheMemoryBudget
    {
        public long Used { get; private set; }

        public long Available => max - Used;

        public bool TryReserve(long bytes)
        {
            if (Used + bytes > max)
            {
                return false;
            }

            Used += bytes;
            return true;
        }

        public void Release(long bytes) => Used -= bytes;
    }
}
