namespace Orleans.Coordinator.Grains.Domain;

/// <summary>The calendar period of a token budget, in UTC.</summary>
public enum TokenBudgetPeriodKind
{
    /// <summary>Resets at 00:00 UTC.</summary>
    Day,

    /// <summary>Resets at 00:00 UTC on the first of the month.</summary>
    Month,
}

/// <summary>Tokens held for a call in progress.</summary>
public sealed record TokenReservation(string Id, long Tokens, long ExpiresAtMs);

/// <summary>The outcome of <see cref="TokenBudgetBook.Reserve"/>.</summary>
public readonly record struct TokenReserveOutcome(bool Granted, long Remaining, long ResetAtMs);

/// <summary>The outcome of <see cref="TokenBudgetBook.Commit"/>.</summary>
/// <param name="Found">False when the reservation is unknown or expired.</param>
/// <param name="Returned">Reserved tokens not used, given back to the budget.</param>
/// <param name="Used">Tokens used in the period after the commit.</param>
/// <param name="Remaining">Budget left (never negative).</param>
public readonly record struct TokenCommitOutcome(bool Found, long Returned, long Used, long Remaining);

/// <summary>
/// A tenant's LLM token budget per UTC day or month: reserve before a call, commit the actual count after.
/// A reservation not committed before it expires returns to the budget by itself. Pure: the caller passes the time.
/// </summary>
public sealed class TokenBudgetBook
{
    private readonly Dictionary<string, TokenReservation> _reservations;

    /// <summary>Creates a book from stored values.</summary>
    public TokenBudgetBook(long budget, TokenBudgetPeriodKind period, long periodStartMs, long used, IEnumerable<TokenReservation>? reservations = null)
    {
        Budget = budget;
        Period = period;
        PeriodStartMs = periodStartMs;
        Used = used;
        _reservations = (reservations ?? []).ToDictionary(r => r.Id, StringComparer.Ordinal);
    }

    /// <summary>Tokens per period.</summary>
    public long Budget { get; private set; }

    /// <summary>The period kind.</summary>
    public TokenBudgetPeriodKind Period { get; private set; }

    /// <summary>Start of the current period (Unix ms).</summary>
    public long PeriodStartMs { get; private set; }

    /// <summary>Tokens committed in the current period.</summary>
    public long Used { get; private set; }

    /// <summary>Open reservations (expired ones until the next prune).</summary>
    public IReadOnlyCollection<TokenReservation> Reservations => _reservations.Values;

    /// <summary>Tokens held by live reservations.</summary>
    public long Reserved(long nowMs) => _reservations.Values.Where(r => r.ExpiresAtMs > nowMs).Sum(r => r.Tokens);

    /// <summary>Budget minus used minus reserved, never negative.</summary>
    public long Remaining(long nowMs) => Math.Max(0, Budget - Used - Reserved(nowMs));

    /// <summary>When the current period ends (Unix ms).</summary>
    public long ResetAtMs => NextPeriodStart(PeriodStartMs, Period);

    /// <summary>Changes budget and period; a new period kind starts its current period now.</summary>
    public void Configure(long budget, TokenBudgetPeriodKind period, long nowMs)
    {
        if (period != Period || PeriodStartMs == 0)
        {
            Period = period;
            PeriodStartMs = PeriodStart(nowMs, period);
            Used = 0;
        }

        Budget = budget;
    }

    /// <summary>Rolls into the current period and drops expired reservations; true when anything changed.</summary>
    public bool Advance(long nowMs)
    {
        var changed = false;
        var start = PeriodStart(nowMs, Period);
        if (start > PeriodStartMs)
        {
            (PeriodStartMs, Used, changed) = (start, 0, true);
        }

        foreach (var expired in _reservations.Values.Where(r => r.ExpiresAtMs <= nowMs).Select(r => r.Id).ToList())
        {
            changed |= _reservations.Remove(expired);
        }

        return changed;
    }

    /// <summary>Holds <paramref name="tokens"/> until <paramref name="expiresAtMs"/> if they fit.</summary>
    public TokenReserveOutcome Reserve(long nowMs, string id, long tokens, long expiresAtMs)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        Advance(nowMs);
        var remaining = Remaining(nowMs);
        if (tokens > remaining)
        {
            return new TokenReserveOutcome(false, remaining, ResetAtMs);
        }

        _reservations.Add(id, new TokenReservation(id, tokens, expiresAtMs));
        return new TokenReserveOutcome(true, remaining - tokens, ResetAtMs);
    }

    /// <summary>Records what a reserved call really used; unused tokens return to the budget.</summary>
    public TokenCommitOutcome Commit(long nowMs, string id, long actualTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(actualTokens);
        Advance(nowMs);
        if (!_reservations.Remove(id, out var reservation))
        {
            return new TokenCommitOutcome(false, 0, Used, Remaining(nowMs));
        }

        Used += actualTokens;
        return new TokenCommitOutcome(true, Math.Max(0, reservation.Tokens - actualTokens), Used, Remaining(nowMs));
    }

    /// <summary>The start of the period that contains <paramref name="nowMs"/>.</summary>
    public static long PeriodStart(long nowMs, TokenBudgetPeriodKind period)
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(nowMs);
        var start = period == TokenBudgetPeriodKind.Day
            ? new DateTimeOffset(now.Year, now.Month, now.Day, 0, 0, 0, TimeSpan.Zero)
            : new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        return start.ToUnixTimeMilliseconds();
    }

    /// <summary>The start of the period after the one starting at <paramref name="periodStartMs"/>.</summary>
    public static long NextPeriodStart(long periodStartMs, TokenBudgetPeriodKind period)
    {
        var start = DateTimeOffset.FromUnixTimeMilliseconds(periodStartMs);
        return (period == TokenBudgetPeriodKind.Day ? start.AddDays(1) : start.AddMonths(1)).ToUnixTimeMilliseconds();
    }
}

/// <summary>The usage thresholds announced for a token budget: 80 % and 100 % of the budget, each once per period. Pure.</summary>
public static class TokenBudgetThresholds
{
    /// <summary>The thresholds, percent.</summary>
    public static readonly int[] Percents = [80, 100];

    /// <summary>
    /// The highest threshold <paramref name="used"/> of <paramref name="budget"/> has reached that is above
    /// <paramref name="announced"/> (the highest announced this period), or null when there is none to announce.
    /// </summary>
    public static int? Next(int announced, long used, long budget)
    {
        int? next = null;
        foreach (var percent in Percents)
        {
            if (percent > announced && budget > 0 && used * 100 >= budget * (long)percent)
            {
                next = percent;
            }
        }

        return next;
    }
}
