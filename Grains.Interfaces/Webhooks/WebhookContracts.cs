using Orleans.Concurrency;

namespace Orleans.Coordinator.Grains.Interfaces.Webhooks;

/// <summary>A registered webhook as listed (never with its secret).</summary>
/// <param name="WebhookId">Its id (<c>wh_</c> and 24 hex digits).</param>
/// <param name="Url">Where events are POSTed (http or https).</param>
/// <param name="Events">Event types it receives (exact types, or <c>*</c> for every type).</param>
/// <param name="CreatedAtMs">When it was registered (Unix ms).</param>
[GenerateSerializer, Immutable, Alias("coordinator.WebhookInfo")]
public sealed record WebhookInfo(
    [property: Id(0)] string WebhookId,
    [property: Id(1)] string Url,
    [property: Id(2)] string[] Events,
    [property: Id(3)] long CreatedAtMs);

/// <summary>A new webhook and its signing secret, answered once: the secret is never shown again.</summary>
/// <param name="Webhook">The webhook.</param>
/// <param name="Secret">The Standard Webhooks signing secret: <c>whsec_</c> and the base64 of 32 random bytes.</param>
[GenerateSerializer, Immutable, Alias("coordinator.WebhookCreated")]
public sealed record WebhookCreated([property: Id(0)] WebhookInfo Webhook, [property: Id(1)] string Secret);

/// <summary>Where a delivery stands.</summary>
public enum WebhookDeliveryStatus
{
    /// <summary>Not delivered yet: its next attempt is due at <see cref="WebhookDelivery.NextAttemptAtMs"/>.</summary>
    Pending = 0,

    /// <summary>A receiver answered 2xx.</summary>
    Delivered = 1,

    /// <summary>The last attempt failed: no more attempts unless redelivered.</summary>
    DeadLetter = 2,
}

/// <summary>One attempt to deliver.</summary>
/// <param name="AtMs">When it was sent (Unix ms).</param>
/// <param name="StatusCode">The receiver's HTTP status; 0 when there was no answer (refused, timeout, destination not allowed).</param>
/// <param name="Error">Why it failed without an answer, or null.</param>
/// <param name="DurationMs">How long the attempt took.</param>
[GenerateSerializer, Immutable, Alias("coordinator.WebhookAttempt")]
public sealed record WebhookAttempt(
    [property: Id(0)] long AtMs,
    [property: Id(1)] int StatusCode,
    [property: Id(2)] string? Error,
    [property: Id(3)] long DurationMs);

/// <summary>
/// One event for one webhook: its message (the body and the Standard Webhooks <c>webhook-id</c>, the same on every
/// attempt so receivers can drop repeats) and its attempts.
/// </summary>
/// <param name="DeliveryId">The message id (<c>webhook-id</c>): the event's id, <c>evt_</c> and its sequence in the tenant's feed.</param>
/// <param name="EventType">The event's type.</param>
/// <param name="EventSequence">The event's position in the tenant's feed.</param>
/// <param name="Status">Where it stands.</param>
/// <param name="Attempts">Its attempts, oldest first (at most 20 kept).</param>
/// <param name="NextAttemptAtMs">When the next attempt is due (Unix ms); null unless pending.</param>
/// <param name="Payload">The JSON body sent: <c>{"type", "timestamp", "data"}</c> as the Standard Webhooks specification recommends.</param>
[GenerateSerializer, Immutable, Alias("coordinator.WebhookDelivery")]
public sealed record WebhookDelivery(
    [property: Id(0)] string DeliveryId,
    [property: Id(1)] string EventType,
    [property: Id(2)] long EventSequence,
    [property: Id(3)] WebhookDeliveryStatus Status,
    [property: Id(4)] WebhookAttempt[] Attempts,
    [property: Id(5)] long? NextAttemptAtMs,
    [property: Id(6)] string Payload);

/// <summary>Bounds and names of webhooks.</summary>
public static class WebhookLimits
{
    /// <summary>Webhooks per tenant.</summary>
    public const int MaxPerTenant = 16;

    /// <summary>Event types per webhook.</summary>
    public const int MaxEventTypes = 32;

    /// <summary>Longest URL, in characters.</summary>
    public const int MaxUrlLength = 2048;

    /// <summary>Deliveries a webhook holds pending; past it, newer events wait in the feed until some finish.</summary>
    public const int MaxPending = 100;

    /// <summary>Finished deliveries (delivered or dead letters) kept for <c>GET .../deliveries</c>, newest kept.</summary>
    public const int MaxFinishedKept = 50;

    /// <summary>Attempts kept per delivery (the newest).</summary>
    public const int MaxAttemptsKept = 20;

    /// <summary>The event types the coordinator publishes.</summary>
    public static readonly string[] CoordinatorEvents =
        ["approval.requested", "approval.decided", "approval.expired", "task.status_changed", "token_budget.threshold", "instance.died"];

    /// <summary>Throws <see cref="CoordinatorValidationException"/> (field <c>events</c>) unless 1 to 32 types, each <c>*</c>, a coordinator event or a custom type.</summary>
    public static string[] ValidateEvents(string[]? events)
    {
        if (events is null || events.Length is 0 or > MaxEventTypes)
        {
            throw new CoordinatorValidationException("events", $"events must list 1 to {MaxEventTypes} event types (or \"*\" for every type).");
        }

        foreach (var type in events)
        {
            if (type == "*" || CoordinatorEvents.Contains(type))
            {
                continue;
            }

            try
            {
                Events.TenantEventLimits.ValidateCustom(type, "{}");
            }
            catch (CoordinatorValidationException)
            {
                throw new CoordinatorValidationException("events", $"'{Truncate(type)}' is not an event type: use \"*\", one of {string.Join(", ", CoordinatorEvents)}, or a custom type (a-z, 0-9, '.', '_', '-').");
            }
        }

        return [.. events.Distinct(StringComparer.Ordinal)];
    }

    /// <summary>True when a webhook listening to <paramref name="events"/> receives <paramref name="type"/>.</summary>
    public static bool Matches(string[] events, string type) => events.Contains("*") || events.Contains(type);

    private static string Truncate(string? s) => s is null ? "" : s.Length <= 64 ? s : s[..64];
}

/// <summary>
/// A tenant's webhooks (key: the tenant, escaped): the registry that <c>POST /v1/tenants/{tenant}/webhooks</c> writes,
/// and where the tenant's event feed announces new events. Every change is persisted before the answer.
/// </summary>
[Alias("coordinator.ITenantWebhooksGrain")]
public interface ITenantWebhooksGrain : IGrainWithStringKey
{
    /// <summary>
    /// Registers a webhook for events published from now on and answers it with its secret (shown once). Throws
    /// <see cref="CoordinatorValidationException"/> for a URL that is malformed, not http(s), or whose host is not
    /// allowed by <c>Webhooks:AllowedHosts</c> (private, loopback and link-local addresses unless listed), for bad
    /// event types, or past 16 webhooks.
    /// </summary>
    [Alias("Register")]
    Task<WebhookCreated> RegisterAsync(string url, string[] events);

    /// <summary>The tenant's webhooks, oldest first.</summary>
    [Alias("List")]
    Task<WebhookInfo[]> ListAsync();

    /// <summary>Removes a webhook (its pending deliveries are dropped); false when there was none.</summary>
    [Alias("Delete")]
    Task<bool> DeleteAsync(string webhookId);

    /// <summary>The feed has a new event: the webhooks that receive its type look for it (a hint; a periodic reminder catches anything missed).</summary>
    [Alias("EventPublished"), OneWay]
    Task EventPublishedAsync(string type);
}

/// <summary>
/// One webhook (key: <see cref="GrainKeys.Webhook"/>): the single writer of its deliveries. It reads the tenant's feed
/// after its cursor, keeps each matching event as a delivery (persisted before the first attempt), POSTs it signed
/// per the Standard Webhooks specification, retries with exponential backoff and jitter, and dead-letters it after
/// <c>Webhooks:MaxAttempts</c>. A durable reminder resumes the work on another silo after a silo is lost: at least
/// once, so receivers drop repeats by <c>webhook-id</c>.
/// </summary>
[Alias("coordinator.IWebhookGrain")]
public interface IWebhookGrain : IGrainWithStringKey
{
    /// <summary>Creates the webhook, delivering events after <paramref name="afterSequence"/> of the tenant's feed; answers its secret.</summary>
    [Alias("Create")]
    Task<string> CreateAsync(string tenant, WebhookInfo info, long afterSequence);

    /// <summary>Drops the webhook, its deliveries and its reminder.</summary>
    [Alias("Delete")]
    Task DeleteAsync();

    /// <summary>Reads new events and sends what is due.</summary>
    [Alias("Poke"), OneWay]
    Task PokeAsync();

    /// <summary>The webhook, or null when there is none.</summary>
    [Alias("Get"), AlwaysInterleave]
    Task<WebhookInfo?> GetAsync();

    /// <summary>Its deliveries, newest first, optionally of one status; null when there is no such webhook.</summary>
    [Alias("Deliveries"), AlwaysInterleave]
    Task<WebhookDelivery[]?> GetDeliveriesAsync(WebhookDeliveryStatus? status);

    /// <summary>
    /// Sends a delivery again (a new series of attempts, same message id); answers it as it stands once queued, or null
    /// when the webhook or the delivery is unknown.
    /// </summary>
    [Alias("Redeliver")]
    Task<WebhookDelivery?> RedeliverAsync(string deliveryId);
}
