namespace Orleans.Coordinator.Grains.Domain;

/// <summary>Where an approval stands (mirrors the public enum; the domain stays free of contracts).</summary>
public enum ApprovalState
{
    /// <summary>Waiting for a reviewer.</summary>
    Pending,

    /// <summary>Approved (final).</summary>
    Approved,

    /// <summary>Denied (final).</summary>
    Denied,

    /// <summary>Nobody decided in time (final).</summary>
    Expired,
}

/// <summary>
/// The rules of a human-in-the-loop approval: pending until exactly one decision, or until its expiry time, whichever
/// comes first; every later decision is refused. Pure: the caller passes the time.
/// </summary>
public static class ApprovalRules
{
    /// <summary>The state at <paramref name="nowMs"/>: a pending approval past its expiry is expired.</summary>
    public static ApprovalState At(ApprovalState stored, long expiresAtMs, long nowMs)
        => stored == ApprovalState.Pending && nowMs >= expiresAtMs ? ApprovalState.Expired : stored;

    /// <summary>The state after a decision at <paramref name="nowMs"/>, or null when the decision does not count (already final).</summary>
    public static ApprovalState? Decide(ApprovalState stored, long expiresAtMs, long nowMs, bool approve)
        => At(stored, expiresAtMs, nowMs) == ApprovalState.Pending ? (approve ? ApprovalState.Approved : ApprovalState.Denied) : null;
}

/// <summary>One line of an approval queue.</summary>
public sealed record ApprovalLine(string Id, string Agent, string Action, long CreatedAtMs, long ExpiresAtMs, ApprovalState State);

/// <summary>
/// A tenant's approval queue: lines oldest first (by creation time, then id), pages after a cursor, and a bound on the
/// decided lines kept (the oldest decided go first; pending lines always stay). Pure.
/// </summary>
public sealed class ApprovalQueue
{
    private readonly SortedDictionary<(long CreatedAtMs, string Id), ApprovalLine> _lines = new();
    private readonly Dictionary<string, (long CreatedAtMs, string Id)> _byId = new(StringComparer.Ordinal);

    /// <summary>Creates a queue from stored lines.</summary>
    public ApprovalQueue(IEnumerable<ApprovalLine>? lines = null)
    {
        foreach (var line in lines ?? [])
        {
            Upsert(line, int.MaxValue);
        }
    }

    /// <summary>All lines, oldest first.</summary>
    public IEnumerable<ApprovalLine> Lines => _lines.Values;

    /// <summary>Adds or replaces a line, then drops the oldest decided lines beyond <paramref name="decidedKept"/>. False when nothing changed.</summary>
    public bool Upsert(ApprovalLine line, int decidedKept)
    {
        ArgumentNullException.ThrowIfNull(line);
        var key = (line.CreatedAtMs, line.Id);
        if (_byId.TryGetValue(line.Id, out var existing) && _lines[existing] == line)
        {
            return false;
        }

        if (_byId.TryGetValue(line.Id, out existing))
        {
            _lines.Remove(existing);
        }

        _lines[key] = line;
        _byId[line.Id] = key;
        var decided = _lines.Values.Count(l => l.State != ApprovalState.Pending);
        if (decided > decidedKept)
        {
            foreach (var old in _lines.Values.Where(l => l.State != ApprovalState.Pending).Take(decided - decidedKept).ToList())
            {
                _lines.Remove((old.CreatedAtMs, old.Id));
                _byId.Remove(old.Id);
            }
        }

        return true;
    }

    /// <summary>
    /// Lines oldest first, of <paramref name="state"/> (null: any), after <paramref name="cursor"/> (from a previous page;
    /// null: from the start), at most <paramref name="limit"/>; the cursor of the next page, or null after the last.
    /// A pending line past its expiry counts as expired at <paramref name="nowMs"/>.
    /// </summary>
    public (List<ApprovalLine> Items, string? NextCursor) Page(ApprovalState? state, string? cursor, int limit, long nowMs)
    {
        var after = ParseCursor(cursor);
        var items = new List<ApprovalLine>();
        var more = false;
        foreach (var (key, line) in _lines)
        {
            if (after is { } a && key.CompareTo(a) <= 0)
            {
                continue;
            }

            var current = line with { State = ApprovalRules.At(line.State, line.ExpiresAtMs, nowMs) };
            if (state is { } wanted && current.State != wanted)
            {
                continue;
            }

            if (items.Count == limit)
            {
                more = true;
                break;
            }

            items.Add(current);
        }

        return (items, more ? $"{items[^1].CreatedAtMs}.{items[^1].Id}" : null);
    }

    /// <summary>True when <paramref name="cursor"/> is one <see cref="Page"/> could have made.</summary>
    public static bool IsCursor(string cursor) => ParseCursor(cursor) is not null;

    private static (long, string)? ParseCursor(string? cursor)
    {
        if (cursor is null)
        {
            return null;
        }

        var dot = cursor.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && long.TryParse(cursor.AsSpan(0, dot), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms)
               && cursor.Length > dot + 1
            ? (ms, cursor[(dot + 1)..])
            : null;
    }
}
