namespace Orleans.Coordinator.Grains.Domain;

/// <summary>A fill in progress: its token, when the token expires, and a task that completes when the fill ends (true: filled).</summary>
public sealed class PendingFill(string token, long expiresAtMs)
{
    private readonly TaskCompletionSource<bool> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The token the filler writes back with its value.</summary>
    public string Token { get; } = token;

    /// <summary>When the token expires (Unix ms); after it, the next caller is told to fill.</summary>
    public long ExpiresAtMs { get; } = expiresAtMs;

    /// <summary>Completes with true when the value was written, false when the fill was given up or superseded.</summary>
    public Task<bool> Done => _done.Task;

    internal void End(bool filled) => _done.TrySetResult(filled);
}

/// <summary>
/// Single-flight for cache misses: of all callers that miss one key while no fill is pending, the first is given a
/// token and the duty to compute the value; the others wait for that fill. A token expires after the fill timeout, and
/// the next caller after that is told to fill. Pure apart from the completion tasks: the caller passes the time.
/// </summary>
public sealed class SingleFlightBook
{
    private readonly Dictionary<string, PendingFill> _pending = new(StringComparer.Ordinal);

    /// <summary>Fills pending (expired ones until the key is next touched).</summary>
    public int Count => _pending.Count;

    /// <summary>
    /// A miss of <paramref name="key"/>: answers (true, the new fill) when this caller must fill, or (false, the fill in
    /// progress) when another caller holds a live token.
    /// </summary>
    public (bool MustFill, PendingFill Fill) Begin(string key, long nowMs, long fillTimeoutMs, Func<string> newToken)
    {
        ArgumentNullException.ThrowIfNull(newToken);
        if (_pending.TryGetValue(key, out var current))
        {
            if (current.ExpiresAtMs > nowMs)
            {
                return (false, current);
            }

            current.End(filled: false);
        }

        var fill = new PendingFill(newToken(), nowMs + fillTimeoutMs);
        _pending[key] = fill;
        return (true, fill);
    }

    /// <summary>The live fill of <paramref name="key"/>, or null.</summary>
    public PendingFill? Current(string key, long nowMs)
        => _pending.TryGetValue(key, out var fill) && fill.ExpiresAtMs > nowMs ? fill : null;

    /// <summary>
    /// A value of <paramref name="key"/> was written: ends any pending fill (its waiters read the value). Answers true
    /// when <paramref name="token"/> was the live fill's token (the fill was completed by its filler).
    /// </summary>
    public bool Written(string key, string? token, long nowMs)
    {
        if (!_pending.Remove(key, out var fill))
        {
            return false;
        }

        fill.End(filled: true);
        return token is not null && string.Equals(fill.Token, token, StringComparison.Ordinal) && fill.ExpiresAtMs > nowMs;
    }

    /// <summary>The filler gives up: ends the fill when <paramref name="token"/> is its token (waiters get a miss). False otherwise.</summary>
    public bool Abandon(string key, string token)
    {
        if (!_pending.TryGetValue(key, out var fill) || !string.Equals(fill.Token, token, StringComparison.Ordinal))
        {
            return false;
        }

        _pending.Remove(key);
        fill.End(filled: false);
        return true;
    }

    /// <summary>Ends every fill (the namespace was dropped or reconfigured).</summary>
    public void Clear()
    {
        foreach (var fill in _pending.Values)
        {
            fill.End(filled: false);
        }

        _pending.Clear();
    }

    /// <summary>Forgets expired fills; answers how many.</summary>
    public int SweepExpired(long nowMs)
    {
        var doomed = _pending.Where(p => p.Value.ExpiresAtMs <= nowMs).Select(p => p.Key).ToList();
        foreach (var key in doomed)
        {
            _pending.Remove(key, out var fill);
            fill!.End(filled: false);
        }

        return doomed.Count;
    }
}
