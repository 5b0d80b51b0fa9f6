using System.Collections.Concurrent;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// What this gateway last heard from the grains about a key (a user's limit, a tenant's budget, a mapping), kept
/// for outages only. Bounded: when <c>capacity</c> is reached the table starts over, so memory stays flat
/// whatever the key count.
/// </summary>
public sealed class Remembered<TValue>(int capacity)
{
    private readonly ConcurrentDictionary<string, TValue> _entries = new(StringComparer.Ordinal);

    /// <summary>Entries held.</summary>
    public int Count => _entries.Count;

    /// <summary>Records the latest value.</summary>
    public void Set(string key, TValue value)
    {
        if (capacity <= 0)
        {
            return;
        }

        if (_entries.Count >= capacity && !_entries.ContainsKey(key))
        {
            _entries.Clear();
        }

        _entries[key] = value;
    }

    /// <summary>The value last recorded for <paramref name="key"/>.</summary>
    public bool TryGet(string key, out TValue value) => _entries.TryGetValue(key, out value!);

    /// <summary>Forgets a key.</summary>
    public void Remove(string key) => _entries.TryRemove(key, out _);
}
