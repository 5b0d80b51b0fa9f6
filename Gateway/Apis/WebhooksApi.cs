using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Webhooks;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Apis;

/// <summary>Body of <c>POST /v1/tenants/{tenant}/webhooks</c>.</summary>
/// <param name="Url">Where events are POSTed: an absolute http(s) URL its host allowed by <c>Webhooks:AllowedHosts</c>.</param>
/// <param name="Events">1 to 32 event types (<c>approval.requested</c>, ..., a custom type, or <c>*</c>).</param>
public sealed record WebhookBody(string? Url, string[]? Events);

/// <summary>A webhook as answered; <see cref="Secret"/> only in the answer to its registration.</summary>
/// <param name="WebhookId">Its id.</param>
/// <param name="Url">Its destination.</param>
/// <param name="Events">The event types it receives.</param>
/// <param name="CreatedAtMs">When it was registered (Unix ms).</param>
/// <param name="Secret">The Standard Webhooks signing secret (<c>whsec_...</c>), shown once.</param>
public sealed record WebhookResponse(string WebhookId, string Url, string[] Events, long CreatedAtMs, string? Secret = null);

/// <summary>A webhook's deliveries, newest first.</summary>
public sealed record WebhookDeliveriesResponse(IReadOnlyList<WebhookDeliveryResponse> Deliveries);

/// <summary>One delivery as answered.</summary>
/// <param name="DeliveryId">The message id sent as <c>webhook-id</c> (the event's id).</param>
/// <param name="EventType">The event's type.</param>
/// <param name="EventSequence">The event's position in the tenant's feed.</param>
/// <param name="Status"><c>pending</c>, <c>delivered</c> or <c>dead_letter</c>.</param>
/// <param name="Attempts">Its attempts, oldest first: when, the receiver's status code (0: no answer), why, how long.</param>
/// <param name="NextAttemptAtMs">When the next attempt is due (Unix ms), while pending.</param>
public sealed record WebhookDeliveryResponse(
    string DeliveryId, string EventType, long EventSequence, string Status, IReadOnlyList<WebhookAttemptResponse> Attempts, long? NextAttemptAtMs);

/// <summary>One attempt as answered.</summary>
public sealed record WebhookAttemptResponse(long AtMs, int StatusCode, string? Error, long DurationMs);

/// <summary>
/// A tenant's webhooks (admin): registration with a Standard Webhooks signing secret shown once, listing, deletion,
/// the deliveries with their attempts, and redelivery. Fails hard (503) when the registry or a webhook's state cannot be
/// read or written.
/// </summary>
public static class WebhooksApi
{
    /// <summary>Maps <c>/v1/tenants/{tenant}/webhooks</c>.</summary>
    public static RouteGroupBuilder MapWebhooksApi(this IEndpointRouteBuilder app)
    {
        var webhooks = app.MapGroup("/v1/tenants/{tenant}/webhooks").WithTags("Webhooks").RequireAuthorization(CoordinatorPolicies.Admin);
        webhooks.MapPost("/", Register).WithName("RegisterWebhook").WithSummary("Register a webhook; the answer carries its signing secret, shown once.");
        webhooks.MapGet("/", List).WithName("ListWebhooks").WithSummary("The tenant's webhooks (without secrets).");
        webhooks.MapGet("/{webhookId}", Get).WithName("GetWebhook").WithSummary("A webhook (without its secret).");
        webhooks.MapDelete("/{webhookId}", Delete).WithName("DeleteWebhook").WithSummary("Remove a webhook and its pending deliveries.");
        webhooks.MapGet("/{webhookId}/deliveries", Deliveries).WithName("ListWebhookDeliveries").WithSummary("Deliveries newest first, with every attempt's status code and time.");
        webhooks.MapPost("/{webhookId}/deliveries/{deliveryId}/redeliver", Redeliver).WithName("RedeliverWebhook").WithSummary("Send a delivery again (a new series of attempts, same webhook-id).");
        return webhooks;
    }

    internal static async Task<Results<Created<WebhookResponse>, ProblemHttpResult>> Register(string tenant, WebhookBody body, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        if (string.IsNullOrEmpty(body.Url))
        {
            return ProblemResponses.Invalid(context, "url", "url is required: an absolute http or https URL.");
        }

        WebhookLimits.ValidateEvents(body.Events); // 400 naming the field, through the exception handler
        var created = await grains.Get<ITenantWebhooksGrain>(key).RegisterAsync(body.Url, body.Events!);
        var info = created.Webhook;
        return TypedResults.Created($"/v1/tenants/{tenant}/webhooks/{info.WebhookId}", new WebhookResponse(info.WebhookId, info.Url, info.Events, info.CreatedAtMs, created.Secret));
    }

    internal static async Task<Results<Ok<WebhookResponse[]>, ProblemHttpResult>> List(string tenant, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        var all = await grains.Get<ITenantWebhooksGrain>(key).ListAsync();
        return TypedResults.Ok(all.Select(w => new WebhookResponse(w.WebhookId, w.Url, w.Events, w.CreatedAtMs)).ToArray());
    }

    internal static async Task<Results<Ok<WebhookResponse>, ProblemHttpResult>> Get(string tenant, string webhookId, HttpContext context, IGrainFactory grains)
    {
        if (!TryWebhook(tenant, webhookId, context, out var grainKey, out var invalid))
        {
            return invalid;
        }

        var info = await grains.Get<IWebhookGrain>(grainKey).GetAsync();
        return info is null ? NotFound(context) : TypedResults.Ok(new WebhookResponse(info.WebhookId, info.Url, info.Events, info.CreatedAtMs));
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> Delete(string tenant, string webhookId, HttpContext context, IGrainFactory grains)
    {
        if (!TryWebhook(tenant, webhookId, context, out _, out var invalid))
        {
            return invalid;
        }

        GrainKeys.TryTenant(tenant, out var key, out _);
        return await grains.Get<ITenantWebhooksGrain>(key!).DeleteAsync(webhookId) ? TypedResults.NoContent() : NotFound(context);
    }

    internal static async Task<Results<Ok<WebhookDeliveriesResponse>, ProblemHttpResult>> Deliveries(string tenant, string webhookId, string? status, HttpContext context, IGrainFactory grains)
    {
        if (!TryWebhook(tenant, webhookId, context, out var grainKey, out var invalid))
        {
            return invalid;
        }

        WebhookDeliveryStatus? filter = status switch
        {
            null => null,
            "pending" => WebhookDeliveryStatus.Pending,
            "delivered" => WebhookDeliveryStatus.Delivered,
            "dead_letter" => WebhookDeliveryStatus.DeadLetter,
            _ => (WebhookDeliveryStatus)(-1),
        };
        if (filter is (WebhookDeliveryStatus)(-1))
        {
            return ProblemResponses.Invalid(context, "status", "status must be pending, delivered or dead_letter.");
        }

        var deliveries = await grains.Get<IWebhookGrain>(grainKey).GetDeliveriesAsync(filter);
        return deliveries is null ? NotFound(context) : TypedResults.Ok(new WebhookDeliveriesResponse([.. deliveries.Select(ToResponse)]));
    }

    internal static async Task<Results<Accepted<WebhookDeliveryResponse>, ProblemHttpResult>> Redeliver(string tenant, string webhookId, string deliveryId, HttpContext context, IGrainFactory grains)
    {
        if (!TryWebhook(tenant, webhookId, context, out var grainKey, out var invalid))
        {
            return invalid;
        }

        if (!GrainKeys.TryWebhookPart(deliveryId, "deliveryId", out _, out var badDelivery))
        {
            return ProblemResponses.Invalid(context, "deliveryId", badDelivery);
        }

        var queued = await grains.Get<IWebhookGrain>(grainKey).RedeliverAsync(deliveryId);
        return queued is null
            ? ProblemResponses.Result(context, ProblemResponses.NotFound("webhook-delivery-not-found", "No such delivery.", "The webhook keeps its pending deliveries and its newest 50 finished ones."))
            : TypedResults.Accepted($"/v1/tenants/{tenant}/webhooks/{webhookId}/deliveries", ToResponse(queued));
    }

    /// <summary>The status's wire name.</summary>
    public static string StatusName(WebhookDeliveryStatus status) => status switch
    {
        WebhookDeliveryStatus.Pending => "pending",
        WebhookDeliveryStatus.Delivered => "delivered",
        _ => "dead_letter",
    };

    private static WebhookDeliveryResponse ToResponse(WebhookDelivery d)
        => new(d.DeliveryId, d.EventType, d.EventSequence, StatusName(d.Status),
            [.. d.Attempts.Select(a => new WebhookAttemptResponse(a.AtMs, a.StatusCode, a.Error, a.DurationMs))], d.NextAttemptAtMs);

    private static bool TryWebhook(string tenant, string webhookId, HttpContext context, out string grainKey, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out ProblemHttpResult? invalid)
    {
        grainKey = "";
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            invalid = ProblemResponses.Invalid(context, "tenant", error);
            return false;
        }

        if (!GrainKeys.TryWebhookPart(webhookId, "webhookId", out var id, out var badId))
        {
            invalid = ProblemResponses.Invalid(context, "webhookId", badId);
            return false;
        }

        grainKey = GrainKeys.Webhook(key, id);
        invalid = null;
        return true;
    }

    private static ProblemHttpResult NotFound(HttpContext context)
        => ProblemResponses.Result(context, ProblemResponses.NotFound("webhook-not-found", "No such webhook."));
}
