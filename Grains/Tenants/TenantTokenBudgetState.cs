namespace Orleans.Coordinator.Grains.Tenants;

/// <summary>A tenant's persisted token budget, written before every acknowledged reserve, commit and change.</summary>
[GenerateSerializer, Alias("coordinator.TenantTokenBudgetState")]
public sealed class TenantTokenBudgetState
{
    /// <summary>True once a budget was set.</summary>
    [Id(0)]
    public bool Configured { get; set; }

    /// <summary>Tokens per period.</summary>
    [Id(1)]
    public long Budget { get; set; }

    /// <summary>"Day" or "Month".</summary>
    [Id(2)]
    public string Period { get; set; } = "Day";

    /// <summary>Start of the current period (Unix ms).</summary>
    [Id(3)]
    public long PeriodStartMs { get; set; }

    /// <summary>Tokens committed in the period.</summary>
    [Id(4)]
    public long Used { get; set; }

    /// <summary>Open reservations.</summary>
    [Id(5)]
    public List<TokenReservationEntry> Reservations { get; set; } = [];

    /// <summary>The period of <see cref="AnnouncedPercent"/> (Unix ms of its start).</summary>
    [Id(6)]
    public long AnnouncedPeriodStartMs { get; set; }

    /// <summary>The highest threshold (80 or 100 percent of the budget) announced in that period; 0 for none.</summary>
    [Id(7)]
    public int AnnouncedPercent { get; set; }

    /// <summary>Threshold announcements saved with the usage that crossed them, not yet in the tenant's feed.</summary>
    [Id(8)]
    public List<Events.OutboxEvent> Outbox { get; set; } = [];
}

/// <summary>One persisted reservation.</summary>
[GenerateSerializer, Alias("coordinator.TokenReservationEntry")]
public sealed class TokenReservationEntry
{
    /// <summary>Reservation id.</summary>
    [Id(0)]
    public string Id { get; set; } = string.Empty;

    /// <summary>Tokens held.</summary>
    [Id(1)]
    public long Tokens { get; set; }

    /// <summary>When it lapses (Unix ms).</summary>
    [Id(2)]
    public long ExpiresAtMs { get; set; }
}
