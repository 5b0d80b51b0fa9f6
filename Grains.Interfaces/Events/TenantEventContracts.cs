namespace Orleans.Coordinator.Grains.Interfaces.Events;

/// <summary>One event of a tenant's feed.</summary>
/// <param name="Sequence">Its position in the tenant's feed, from 1; also its cursor.</param>
/// <param name="Type">e.g. <c>approval.requested</c>, <c>task.status_changed</c>, or a custom type.</param>
/// <param name="AtMs">When it happened (Unix ms).</param>
/// <param name="DataJson">Its data: a JSON value.</param>
/// <param name="SourceKey">For the coordinator's own events, what makes the event unique (it is appended once); null for custom events.</param>
[GenerateSerializer, Immutable, Alias("coordinator.TenantEvent")]
public sealed record TenantEvent(
    [property: Id(0)] long Sequence,
    [property: Id(1)] string Type,
    [property: Id(2)] long AtMs,
    [property: Id(3)] string DataJson,
    [property: Id(4)] string? SourceKey = null);

/// <summary>A page of a feed: events after a cursor, the cursor to continue from, and how far the feed is acknowledged.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.TenantEventPage")]
public sealed record TenantEventPage(
    [property: Id(0)] TenantEvent[] Events,
    [property: Id(1)] long NextCursor,
    [property: Id(2)] long Acknowledged);

/// <summary>Bounds and names of the event feed.</summary>
public static class TenantEventLimits
{
    /// <summary>Events kept per tenant (the oldest go first, a page at a time).</summary>
    public const int MaxKept = 10_000;

    /// <summary>Events per stored page: an append writes the open page only, never the whole feed.</summary>
    public const int PageSize = 200;

    /// <summary>Largest event data: 16 KiB of JSON.</summary>
    public const int MaxDataBytes = 16 * 1024;

    /// <summary>Largest page.</summary>
    public const int MaxPage = 500;

    /// <summary>Type prefixes only the coordinator publishes.</summary>
    public static readonly string[] ReservedPrefixes = ["approval.", "task.", "token_budget.", "instance.", "webhook."];

    /// <summary>Throws <see cref="CoordinatorValidationException"/> for a custom event type or data out of range.</summary>
    public static void ValidateCustom(string? type, string? dataJson)
    {
        if (string.IsNullOrEmpty(type) || type.Length > 64 || !type.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '_' or '-'))
        {
            throw new CoordinatorValidationException("type", "type must be 1 to 64 characters of a-z, 0-9, '.', '_' and '-'.");
        }

        if (ReservedPrefixes.Any(p => type.StartsWith(p, StringComparison.Ordinal)))
        {
            throw new CoordinatorValidationException("type", $"types starting with {string.Join(", ", ReservedPrefixes)} are published by the coordinator itself.");
        }

        if (dataJson is null || System.Text.Encoding.UTF8.GetByteCount(dataJson) > MaxDataBytes)
        {
            throw new CoordinatorValidationException("data", $"data is required and must be at most {MaxDataBytes} bytes of JSON.");
        }
    }
}

/// <summary>
/// A sealed page of a tenant's feed (key: <c>{tenant}/{page}</c>, the tenant escaped): <see cref="TenantEventLimits.PageSize"/>
/// events, written once when the feed's open page fills. Used by <see cref="ITenantEventsGrain"/> only.
/// </summary>
[Alias("coordinator.ITenantEventPageGrain")]
public interface ITenantEventPageGrain : IGrainWithStringKey
{
    /// <summary>Stores the page's events (idempotent: a repeated seal writes the same events).</summary>
    [Alias("Seal")]
    Task SealAsync(TenantEvent[] events);

    /// <summary>The page's events, oldest first (empty when never sealed or dropped).</summary>
    [Alias("Get"), Orleans.Concurrency.ReadOnly]
    Task<TenantEvent[]> GetAsync();

    /// <summary>Drops the page (older than what the feed keeps).</summary>
    [Alias("Drop")]
    Task DropAsync();
}

/// <summary>
/// A tenant's event feed (key: the tenant): what approvals and tasks announce, and custom events. Each event is
/// persisted before <see cref="PublishAsync"/> answers; the feed keeps the newest 10,000 (in sealed pages of 200 and an
/// open page, so an append writes at most one page); readers page through it with a
/// cursor and acknowledge how far they have read (a portal without a webhook receiver).
/// </summary>
[Alias("coordinator.ITenantEventsGrain")]
public interface ITenantEventsGrain : IGrainWithStringKey
{
    /// <summary>Appends an event and answers it.</summary>
    [Alias("Publish")]
    Task<TenantEvent> PublishAsync(string type, string dataJson);

    /// <summary>
    /// Appends an event unless one with <paramref name="sourceKey"/> is among the kept events, and answers the event
    /// with that key (so a retried announcement is in the feed once).
    /// </summary>
    [Alias("PublishOnce")]
    Task<TenantEvent> PublishOnceAsync(string sourceKey, string type, string dataJson);

    /// <summary>Events after <paramref name="after"/> (null: after the acknowledged cursor), oldest first, at most <paramref name="limit"/> (1 to 500).</summary>
    [Alias("Read")]
    Task<TenantEventPage> ReadAsync(long? after, int limit);

    /// <summary>The last sequence handed out (0 before the first event).</summary>
    [Alias("LastSequence")]
    Task<long> LastSequenceAsync();

    /// <summary>Acknowledges every event up to <paramref name="upTo"/> (never moves back; at most the newest); answers the acknowledged cursor.</summary>
    [Alias("Ack")]
    Task<long> AckAsync(long upTo);
}
