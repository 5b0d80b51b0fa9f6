using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Events;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Apis;

/// <summary>Body of <c>POST /v1/tenants/{tenant}/events</c>: a custom event.</summary>
public sealed record CustomEventBody(string? Type, JsonElement? Data);

/// <summary>Body of <c>POST .../notifications/ack</c>: the cursor read up to.</summary>
public sealed record NotificationAckBody(long? UpTo);

/// <summary>One event as answered.</summary>
public sealed record EventResponse(string EventId, long Sequence, string Type, long AtMs, JsonElement Data);

/// <summary>A page of the feed.</summary>
public sealed record NotificationsResponse(IReadOnlyList<EventResponse> Events, long NextCursor, long Acknowledged);

/// <summary>
/// A tenant's event feed: what approvals and tasks announce (<c>approval.requested</c>, <c>approval.decided</c>,
/// <c>approval.expired</c>, <c>task.status_changed</c>) and custom events, pulled with a cursor and acknowledged by a
/// portal without a webhook receiver. Fails hard (503) when the feed cannot be read or written.
/// </summary>
public static class EventsApi
{
    /// <summary>Maps <c>/v1/tenants/{tenant}/events</c> and <c>/notifications</c>.</summary>
    public static RouteGroupBuilder MapEventsApi(this IEndpointRouteBuilder app)
    {
        var tenants = app.MapGroup("/v1/tenants/{tenant}").WithTags("Events").RequireAuthorization(CoordinatorPolicies.Client);
        tenants.MapPost("/events", Publish).WithName("PublishEvent").WithSummary("Publish a custom event on the tenant's feed.");
        tenants.MapGet("/notifications", Read).WithName("ListNotifications").WithSummary("Events after a cursor (default: after the acknowledged one), oldest first.");
        tenants.MapPost("/notifications/ack", Ack).WithName("AckNotifications").WithSummary("Acknowledge every event up to a cursor.");
        return tenants;
    }

    internal static async Task<Results<Created<EventResponse>, ProblemHttpResult>> Publish(string tenant, CustomEventBody body, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        var data = body.Data is { ValueKind: not JsonValueKind.Undefined } d ? d.GetRawText() : null;
        TenantEventLimits.ValidateCustom(body.Type, data); // 400 naming the field, through the exception handler
        var published = await grains.Get<ITenantEventsGrain>(key).PublishAsync(body.Type!, data!);
        return TypedResults.Created($"/v1/tenants/{tenant}/notifications?after={published.Sequence - 1}", ToResponse(published));
    }

    internal static async Task<Results<Ok<NotificationsResponse>, ProblemHttpResult>> Read(string tenant, string? after, string? limit, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        long? cursor = null;
        if (after is not null)
        {
            if (!long.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                return ProblemResponses.Invalid(context, "after", "after must be a cursor from an earlier page (a whole number).");
            }

            cursor = parsed;
        }

        if (!ProblemResponses.TryQueryNumber(context, "limit", limit, 100, 1, TenantEventLimits.MaxPage, out var size, out var badLimit))
        {
            return badLimit;
        }

        var page = await grains.Get<ITenantEventsGrain>(key).ReadAsync(cursor, size);
        return TypedResults.Ok(new NotificationsResponse([.. page.Events.Select(ToResponse)], page.NextCursor, page.Acknowledged));
    }

    internal static async Task<Results<Ok<NotificationAckBody>, ProblemHttpResult>> Ack(string tenant, NotificationAckBody body, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(tenant, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        if (body.UpTo is not ({ } upTo and >= 0))
        {
            return ProblemResponses.Invalid(context, "upTo", "upTo is required: a cursor (nextCursor of a page).");
        }

        return TypedResults.Ok(new NotificationAckBody(await grains.Get<ITenantEventsGrain>(key).AckAsync(upTo)));
    }

    private static EventResponse ToResponse(TenantEvent e)
    {
        using var data = JsonDocument.Parse(e.DataJson);
        return new EventResponse($"evt_{e.Sequence.ToString(CultureInfo.InvariantCulture)}", e.Sequence, e.Type, e.AtMs, data.RootElement.Clone());
    }
}
