namespace Orleans.Coordinator.Grains.Domain;

/// <summary>Usage in one fixed budget window.</summary>
/// <param name="StartMs">When the window began (Unix ms); 0 when no window has begun.</param>
/// <param name="Used">Bytes charged in the window.</param>
public readonly record struct ByteBudgetWindow(long StartMs, long Used);

/// <summary>The outcome of <see cref="ByteBudget.TryConsume"/>.</summary>
public readonly record struct ByteBudgetDecision(bool Allowed, long Used, long Budget, long Remaining, long ResetAtMs);

/// <summary>
/// A per-user byte budget over fixed windows. A window starts at the first charge after the previous one
/// ended and lasts <c>windowMs</c>. A charge is all or nothing: bytes that do not fit in what is left are
/// refused and nothing is charged. Pure: the caller passes the time and keeps the window.
/// </summary>
public static class ByteBudget
{
    /// <summary>The window in force at <paramref name="nowMs"/>: the current one, or a fresh one if it ended.</summary>
    /// <remarks>
    /// A clock that goes backwards keeps the current window (it never hands out a fresh budget early).
    /// </remarks>
    public static ByteBudgetWindow Current(ByteBudgetWindow window, long nowMs, long windowMs)
    {
        if (window.StartMs == 0 || nowMs >= window.StartMs + windowMs)
        {
            return new ByteBudgetWindow(nowMs, 0);
        }

        return window;
    }

    /// <summary>Charges <paramref name="bytes"/> when they fit; returns the window to keep and the decision.</summary>
    public static (ByteBudgetWindow Window, ByteBudgetDecision Decision) TryConsume(
        ByteBudgetWindow window, long nowMs, long bytes, long budget, long windowMs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        ArgumentOutOfRangeException.ThrowIfNegative(budget);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(windowMs, 0);

        var current = Current(window, nowMs, windowMs);
        var resetAt = current.StartMs + windowMs;
        var remaining = Math.Max(0, budget - current.Used);
        if (bytes > remaining)
        {
            return (current, new ByteBudgetDecision(false, current.Used, budget, remaining, resetAt));
        }

        var next = current with { Used = current.Used + bytes };
        return (next, new ByteBudgetDecision(true, next.Used, budget, remaining - bytes, resetAt));
    }

    /// <summary>Reads the window at <paramref name="nowMs"/> without charging.</summary>
    public static ByteBudgetDecision Peek(ByteBudgetWindow window, long nowMs, long budget, long windowMs)
    {
        var current = Current(window, nowMs, windowMs);
        var remaining = Math.Max(0, budget - current.Used);
        return new ByteBudgetDecision(remaining > 0, current.Used, budget, remaining, current.StartMs + windowMs);
    }
}
